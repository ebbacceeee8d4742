"""The run report (report.html in headless chromium), the model card, --calibrate, and --report-to tracking
(TensorBoard event files and the MLflow store read back)."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
from browser import open_page
from trained import tiny_run

from labeltune.cli import main as cli
from labeltune.report.calibration import fit_temperature, reliability, scale


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory, tiny_bert_dir):
    """Classification with --calibrate and --report-to tensorboard,mlflow."""
    return tiny_run(tmp_path_factory.mktemp("tracked"), tiny_bert_dir, "classification", calibrate=True,
                    report_to="tensorboard,mlflow", run_name="tiny")


def _log(directory):
    with open(os.path.join(directory, "train_log.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_reliability_and_ece_by_hand():
    # 4 examples at confidence 0.9 (3 right), 2 at 0.6 (1 right): ECE = 4/6*|0.75-0.9| + 2/6*|0.5-0.6|
    probs = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 2)
    gold = np.array([0, 0, 0, 1, 0, 1])
    rel = reliability(probs, gold, bins=10)
    assert rel["ece"] == pytest.approx(4 / 6 * 0.15 + 2 / 6 * 0.1)
    assert [b["n"] for b in rel["bins"] if b["n"]] == [2, 4]


def test_temperature_scaling_cools_an_overconfident_model():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 600)
    logits = rng.normal(0, 1, (600, 3))
    logits[np.arange(600), gold] += 1.0  # right 60-70% of the time ...
    probs = scale(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 0.25)  # ... but made 4x too sharp
    fitted = fit_temperature(probs, gold)
    assert fitted["temperature"] == pytest.approx(4.0, rel=0.25)
    assert fitted["ece_after"] < fitted["ece_before"] / 2 and fitted["nll_after"] < fitted["nll_before"]
    assert (scale(probs, fitted["temperature"]).argmax(1) == probs.argmax(1)).all()  # the labels do not change


def test_calibrate_is_saved_and_used_at_predict_time(tracked_run):
    import labeltune

    with open(os.path.join(tracked_run, "metrics.json")) as f:
        fitted = json.load(f)["calibration"]
    with open(os.path.join(tracked_run, "labeltune.json")) as f:
        assert json.load(f)["setup"]["temperature"] == fitted["temperature"]
    model = labeltune.load(tracked_run, precision="fp32")
    calibrated = model.predict(["a moving film"])[0]["scores"]
    model.rt.setup["temperature"] = 1.0
    raw = model.predict(["a moving film"])[0]["scores"]
    raw_p = np.array([list(raw.values())])
    assert np.allclose(scale(raw_p, fitted["temperature"])[0], list(calibrated.values()), atol=1e-5)


def test_tensorboard_events_hold_the_logged_metrics(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = glob.glob(os.path.join(tracked_run, "tensorboard", "tiny"))
    assert len(runs) == 1
    events = EventAccumulator(runs[0])
    events.Reload()
    log = _log(tracked_run)
    losses = [(r["step"], r["loss"]) for r in log if "loss" in r]
    got = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert [s for s, _ in got] == [s for s, _ in losses]
    assert np.allclose([v for _, v in got], [v for _, v in losses], rtol=1e-6)
    evals = [(r["step"], r["eval"]["accuracy"]) for r in log if "eval" in r]
    got = [(e.step, e.value) for e in events.Scalars("eval/accuracy")]
    assert [s for s, _ in got] == [s for s, _ in evals] and np.allclose([v for _, v in got], [v for _, v in evals])
    assert "final/test/accuracy" in events.Tags()["scalars"]


def test_mlflow_run_holds_params_and_metrics(tracked_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{os.path.abspath(os.path.join(tracked_run, 'mlruns', 'mlflow.db'))}")
    [run] = client.search_runs([client.get_experiment_by_name("labeltune").experiment_id])
    assert run.info.run_name == "tiny" and run.info.status == "FINISHED"
    assert float(run.data.params["lr"]) == 1e-2 and run.data.params["task"] == "classification"
    log = _log(tracked_run)
    history = client.get_metric_history(run.info.run_id, "train/loss")
    got, logged = sorted((m.step, m.value) for m in history), [(r["step"], r["loss"]) for r in log if "loss" in r]
    assert [s for s, _ in got] == [s for s, _ in logged] and np.allclose([v for _, v in got], [v for _, v in logged])
    with open(os.path.join(tracked_run, "metrics.json")) as f:
        assert run.data.metrics["final/test/accuracy"] == pytest.approx(json.load(f)["test"]["accuracy"])


def test_classification_report_in_a_browser(tracked_run):
    path = os.path.join(tracked_run, "report.html")
    with open_page(path, "report_classification") as (page, problems):
        for section in ("curves", "metrics", "confusion", "calibration", "errors", "recipe"):
            assert page.locator(f"#{section}").count() == 1, section
        # loss curve, validation curve, confusion matrices and reliability diagrams of validation and test
        assert page.locator("img").count() == 6
        assert "Temperature scaling" in page.content()
    with open(path) as f:
        assert "http://" not in f.read()  # self-contained


@pytest.mark.parametrize("task", ["ner", "qa", "translation"])
def test_report_of_every_task_in_a_browser(tmp_path_factory, tiny_bert_dir, task):
    out = tiny_run(tmp_path_factory.getbasetemp(), tiny_bert_dir, task)
    os.remove(os.path.join(out, "report.html"))
    assert cli(["report", "--model", out]) == 0  # regenerated from the run's files
    with open_page(os.path.join(out, "report.html"), f"report_{task}") as (page, problems):
        assert page.locator("#curves").count() == 1 and page.locator("#errors").count() == 1
        assert page.locator("img").count() >= 2  # loss and validation curves
        if task == "ner":
            assert page.locator("text=per entity type").count() >= 1


def test_model_card_is_a_hugging_face_card(tracked_run):
    from huggingface_hub import ModelCard

    card = ModelCard.load(os.path.join(tracked_run, "README.md"))
    assert card.data.pipeline_tag == "text-classification" and "labeltune" in card.data.tags
    with open(os.path.join(tracked_run, "metrics.json")) as f:
        test_accuracy = json.load(f)["test"]["accuracy"]
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results[("test", "accuracy")] == pytest.approx(test_accuracy, abs=1e-4)
    for heading in ("## Data", "## Training recipe", "## Intended use and limitations"):
        assert heading in card.text


def test_tune_reports_every_fold_and_the_refit_to_one_store(tmp_path, tiny_bert_dir):
    from mlflow.tracking import MlflowClient
    from trained import write_data

    import labeltune

    train = write_data(str(tmp_path / "data"), "classification")
    out = tmp_path / "tune"
    labeltune.tune_model(model=tiny_bert_dir, train=train, output=str(out), folds=2, lrs="1e-2", epochs=1, batch_size=4,
                         precision="fp32", quiet=True, threads=1, report_to="mlflow")
    client = MlflowClient(f"sqlite:///{out / 'mlruns' / 'mlflow.db'}")  # in --output: fold folders are removed
    runs = client.search_runs([client.get_experiment_by_name("labeltune").experiment_id])
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)  # 2 folds and the refit
    folds = [r for r in runs if r.info.run_name.startswith("fold-")]
    assert len(folds) == 2 and all("final/test/accuracy" in r.data.metrics for r in folds)


def test_report_to_takes_hugging_faces_spellings():
    """`--report-to none` is Hugging Face's "off"; backend names in any case; anything else is refused."""
    from labeltune.config import TrainConfig
    from labeltune.errors import UserError

    assert TrainConfig(report_to="none").report_to == ""
    assert TrainConfig(report_to="TensorBoard, MLflow").report_to == "tensorboard,mlflow"
    with pytest.raises(UserError, match=r"--report-to \(report_to=\) takes tensorboard, mlflow"):
        TrainConfig(report_to="wandb")


def test_a_crash_after_the_loop_marks_the_mlflow_run_failed(tmp_path, tiny_bert_dir, monkeypatch):
    """A failure after training (the save: a full disk) used to leave the MLflow run RUNNING for ever."""
    from mlflow.tracking import MlflowClient
    from trained import write_data

    import labeltune
    import labeltune.run as run_module

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_module, "save", full_disk)
    train = write_data(str(tmp_path / "data"), "classification")
    out = tmp_path / "run"
    with pytest.raises(OSError, match="No space left"):
        labeltune.train(model=tiny_bert_dir, train=train, output=str(out), epochs=1, batch_size=4, precision="fp32",
                        quiet=True, threads=1, report_to="mlflow", validation_fraction=0)
    client = MlflowClient(f"sqlite:///{out / 'mlruns' / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("labeltune").experiment_id])
    assert run.info.status == "FAILED"
