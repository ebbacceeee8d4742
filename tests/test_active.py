"""labeltune suggest: on a pool where one region was never labelled, the strategies pick from it; random does not."""

from __future__ import annotations

import csv
import json
import random
import shutil

import pytest

import labeltune
import numpy as np

from labeltune.active import diverse_picks, rank
from labeltune.cli import main as cli_main

POS = "good great fine nice happy superb lovely brilliant".split()
NEG = "bad awful poor sad terrible dull boring weak".split()
B = "table chair window door river mountain engine cable pencil garden bottle carpet tower valley".split()


def _texts(words, n, rng):
    return [" ".join(rng.choice(words) for _ in range(5)) for _ in range(n)]


@pytest.fixture(scope="module")
def region_model(tmp_path_factory, tiny_bert_dir):
    """A tiny model trained on region A only (sentiment words), and a pool of 40 region-A and 40 region-B
    texts (words the model never saw a label for)."""
    root = tmp_path_factory.mktemp("active")
    base = root / "tiny-dropout"
    shutil.copytree(tiny_bert_dir, base)
    cfg = json.loads((base / "config.json").read_text())
    cfg["hidden_dropout_prob"] = 0.2  # BALD needs dropout to sample from
    (base / "config.json").write_text(json.dumps(cfg))
    rng = random.Random(0)
    with open(root / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows([(t, "pos") for t in _texts(POS, 30, rng)] + [(t, "neg") for t in _texts(NEG, 30, rng)])
    pool = [(f"a{i}", t) for i, t in enumerate(_texts(POS, 20, rng) + _texts(NEG, 20, rng))]
    pool += [(f"b{i}", t) for i, t in enumerate(_texts(B, 40, rng))]
    rng.shuffle(pool)
    with open(root / "pool.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerows(pool)
    # measured: test accuracy 1.0 on held-out region-A rows after these 15 epochs at lr 1e-3
    labeltune.train(train=str(root / "train.csv"), model=str(base), output=str(root / "model"), epochs=15, lr=1e-3,
                    validation_fraction=0.0, quiet=True, threads=1)
    return root


def _from_b(root, strategy, seed=0, n=20):
    predictor = labeltune.load(str(root / "model"))
    with open(root / "pool.csv") as f:
        ids = [r["id"] for r in csv.DictReader(f)]
    examples = predictor.task.read(str(root / "pool.csv"), predictor.opts, labelled=False)
    ranked = rank(predictor.rt, predictor.task, examples, n, strategy, seed=seed, mc_passes=8)
    assert len({i for i, _ in ranked}) == n
    return sum(ids[i].startswith("b") for i, _ in ranked), ranked


# measured on this pool (20 picks of 80 rows, half of them from B): entropy 20, margin 20, bald 20, badge 18,
# kmeans 17, diverse 18 (seeds 1-4: 17, 18, 18, 18; its 10 x 20 candidates are the whole pool here), random 7 --
# the floors leave a margin
@pytest.mark.parametrize("strategy, floor", [("entropy", 18), ("margin", 18), ("bald", 16), ("badge", 15),
                                             ("kmeans", 14), ("diverse", 15)])
def test_strategies_pick_the_unlabelled_region(region_model, strategy, floor):
    picked, _ = _from_b(region_model, strategy)
    assert picked >= floor


def test_random_does_not_prefer_the_region(region_model):
    # about half of the picks by chance: seeds 0-4 measured 7, 8, 13, 11, 11 of 20
    counts = [_from_b(region_model, "random", seed=s)[0] for s in range(5)]
    assert 30 <= sum(counts) <= 70 and max(counts) <= 15


@pytest.mark.parametrize("strategy", ["random", "bald", "badge", "kmeans", "diverse"])
def test_rankings_are_deterministic_per_seed(region_model, strategy):
    assert _from_b(region_model, strategy, seed=3)[1] == _from_b(region_model, strategy, seed=3)[1]


def test_diverse_spreads_a_round_over_the_uncertain_rows():
    """Eight near-copies of one hard case score highest; top-n uncertainty takes five of them, diverse takes one
    per cluster of the candidates and still only candidates (the top candidates x n scores)."""
    rng = np.random.default_rng(0)
    copies = np.array([1.0, 0.0, 0.0, 0.0]) + 0.001 * rng.standard_normal((8, 4))  # one hard case, 8 times
    spread = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, -1, 0, 0], [0, 0, -1, 0], [0, 0, 0, -1]], float)
    sure = rng.standard_normal((30, 4))  # confident rows: never candidates
    x = np.vstack([copies, spread, sure])
    scores = np.concatenate([np.full(8, 0.99), np.full(6, 0.9), np.full(30, 0.05)])
    top_n = [int(i) for i in np.argsort(-scores, kind="stable")[:5]]
    assert all(i < 8 for i in top_n)
    picks = diverse_picks(scores, x, 5, seed=0, candidates=2)  # 10 candidates: the 8 copies, 2 spread rows
    picked = [i for i, _ in picks]
    assert len(set(picked)) == 5 and all(i < 10 for i in picked)
    assert sum(i < 8 for i in picked) <= 3  # the copies are one region, however many candidates they make
    assert [s for _, s in picks] == sorted((s for _, s in picks), reverse=True)
    for seed in range(4):  # 15 candidates: the copies, every spread row and one sure row
        wide = [i for i, _ in diverse_picks(scores, x, 5, seed=seed, candidates=3)]
        assert sum(i < 8 for i in wide) == 1 and all(i < 15 for i in wide)
    assert diverse_picks(scores, x, 5, seed=1, candidates=3) == diverse_picks(scores, x, 5, seed=1, candidates=3)


def test_suggest_cli_writes_the_rows(region_model, tmp_path, capsys):
    out = tmp_path / "to_label.csv"
    argv = ["suggest", "--model", str(region_model / "model"), "--pool", str(region_model / "pool.csv"), "--n", "10",
            "--strategy", "margin", "--output", str(out)]
    assert cli_main(argv) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    with open(region_model / "pool.csv") as f:
        pool = {r["id"]: r["text"] for r in csv.DictReader(f)}
    assert list(rows[0]) == ["rank", "score", "id", "text"]
    assert [int(r["rank"]) for r in rows] == list(range(1, 11))
    assert all(pool[r["id"]] == r["text"] for r in rows)  # the pool's own rows, every column
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    # refusing to overwrite the pool, and a bad strategy: one line, exit 2
    pool_path = str(region_model / "pool.csv")
    assert cli_main(["suggest", "--model", str(region_model / "model"), "--pool", pool_path, "--output", pool_path]) == 2
    assert "is the --pool file" in capsys.readouterr().err
    assert cli_main(argv[:-4] + ["--strategy", "maybe", "--output", str(out)]) == 2
    assert "--strategy (strategy=) maybe" in capsys.readouterr().err
    # '-' writes JSON Lines to standard output and says so on stderr; a type it cannot write is named before any work
    assert cli_main(argv[:-1] + ["-"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["rank"] for line in captured.out.splitlines()] == list(range(1, 11))
    assert "to standard output" in captured.err
    assert cli_main(argv[:-1] + [str(tmp_path / "to_label.xlsx")]) == 2
    assert "'.xlsx' is not one labeltune writes" in capsys.readouterr().err


def test_suggest_diverse_picks_among_its_candidates(region_model, tmp_path, capsys):
    """--candidates 2: the 20 closest calls (all region B, as margin's top 20 are) hold every one of the 10 picks."""
    out = tmp_path / "to_label.csv"
    argv = ["suggest", "--model", str(region_model / "model"), "--pool", str(region_model / "pool.csv"), "--n", "10",
            "--strategy", "diverse", "--output", str(out)]
    assert cli_main(argv + ["--candidates", "2"]) == 0
    with open(out) as f:
        assert [r["id"][0] for r in csv.DictReader(f)] == ["b"] * 10
    assert cli_main(argv + ["--candidates", "0"]) == 2
    assert "--candidates (candidates=) must be at least 1" in capsys.readouterr().err


def test_bald_refuses_a_model_without_dropout(tmp_path, tiny_bert_dir, capsys):
    rng = random.Random(1)
    with open(tmp_path / "train.csv", "w", newline="") as f:
        csv.writer(f).writerows([("text", "label")] + [(t, "pos") for t in _texts(POS, 4, rng)]
                                + [(t, "neg") for t in _texts(NEG, 4, rng)])
    labeltune.train(train=str(tmp_path / "train.csv"), model=tiny_bert_dir, output=str(tmp_path / "m"), epochs=1,
                    validation_fraction=0.0, quiet=True, threads=1)
    argv = ["suggest", "--model", str(tmp_path / "m"), "--pool", str(tmp_path / "train.csv"), "--strategy", "bald",
            "--output", str(tmp_path / "out.csv")]
    assert cli_main(argv) == 2
    assert "this model has none" in capsys.readouterr().err and not (tmp_path / "out.csv").exists()



def test_ner_sentences_scored_by_their_words(tmp_path, tiny_bert_dir):
    """NER through the same hook: a model trained on PER/ORG sentences finds the sentences of unseen words."""
    per, org, fill = "alice bob carol dave erin frank".split(), "acme globex initech umbrella".split(), "works at joined left".split()
    rng = random.Random(0)

    def a_sent():
        return [(rng.choice(per), "B-PER"), (rng.choice(fill), "O"), (rng.choice(fill), "O"), (rng.choice(org), "B-ORG")]

    def write(path, sents):
        with open(path, "w") as f:
            f.write("".join("".join(f"{w} {t}\n" for w, t in s) + "\n" for s in sents))

    write(tmp_path / "train.conll", [a_sent() for _ in range(60)])
    pool = [("a", a_sent()) for _ in range(20)] + [("b", [(rng.choice(B), "O") for _ in range(4)]) for _ in range(20)]
    rng.shuffle(pool)
    write(tmp_path / "pool.conll", [s for _, s in pool])
    labeltune.train(task="ner", train=str(tmp_path / "train.conll"), model=tiny_bert_dir, output=str(tmp_path / "m"),
                    epochs=15, lr=1e-3, validation_fraction=0.0, quiet=True, threads=1)
    predictor = labeltune.load(str(tmp_path / "m"))
    examples = predictor.task.read(str(tmp_path / "pool.conll"), predictor.opts, labelled=False)
    # measured (10 picks of 40, half unseen): entropy 10, margin 10, cal 10, badge 8, diverse 7 (its 10 x 10 candidates are
    # the whole pool here), kmeans 6, random 5
    picked = {s: sum(pool[i][0] == "b" for i, _ in rank(predictor.rt, predictor.task, examples, 10, s, seed=0))
              for s in ("entropy", "badge", "diverse", "random")}
    assert picked["entropy"] >= 9 and picked["badge"] >= 6 and picked["diverse"] >= 6 and picked["random"] <= 7
    labelled = predictor.task.read(str(tmp_path / "train.conll"), predictor.opts, labelled=False)
    cal = rank(predictor.rt, predictor.task, examples, 10, "cal", labelled=labelled)  # sentences: mean tag distribution
    assert sum(pool[i][0] == "b" for i, _ in cal) >= 8  # measured 10
    out = tmp_path / "to_label.jsonl"
    assert cli_main(["suggest", "--model", str(tmp_path / "m"), "--pool", str(tmp_path / "pool.conll"), "--n", "3",
                     "--strategy", "entropy", "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3] and all(r["tokens"][0] in B for r in rows)
    assert rows[0]["where"].startswith(str(tmp_path / "pool.conll"))
    # the pool's tag column comes back beside the tokens (it was dropped: only the first column was written)
    assert all(r["column_1"] == ["O"] * len(r["tokens"]) for r in rows), rows[0]


def test_typiclust_covers_the_regions_no_label_covers():
    """Three blobs; blob A holds the one labelled row. TypiClust's picks (k = 1 + 2 clusters) go to blobs B and C,
    one each, and are their most typical rows (near the centre), not the loose rows around them; without the
    labelled row the picks go to the two largest blobs, A and B."""
    from labeltune.active import typiclust_picks

    rng = np.random.default_rng(0)

    def blob(axis, tight, loose):
        centre = np.eye(4)[axis]
        return np.vstack([centre + 0.05 * rng.standard_normal((tight, 4)), centre + 0.3 * rng.standard_normal((loose, 4))])

    x = np.vstack([blob(0, 70, 5), blob(1, 55, 5), blob(2, 40, 5), np.eye(4)[0] + 0.05 * rng.standard_normal((1, 4))])
    region = np.repeat([0, 1, 2, 0], [75, 60, 45, 1])  # pool rows 0-179, the labelled row 180
    mask = np.arange(len(x)) == 180
    picks = typiclust_picks(x, mask, 2, seed=0)
    assert sorted(region[i] for i, _ in picks) == [1, 2]
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    for i, _ in picks:  # the most typical rows: among the tight ones, closer to the blob's centre than most
        members = np.flatnonzero(region[:180] == region[i])
        d = np.linalg.norm(unit[members] - unit[members].mean(0), axis=1)
        assert np.linalg.norm(unit[i] - unit[members].mean(0)) <= np.quantile(d, 0.25)
    unlabelled = typiclust_picks(x[:180], np.zeros(180, bool), 2, seed=0)
    assert sorted(region[i] for i, _ in unlabelled) == [0, 1]
    assert typiclust_picks(x, mask, 2, seed=0) == picks  # seeded


def test_typiclust_fills_n_from_a_small_pool_with_duplicates():
    from labeltune.active import typiclust_picks

    x = np.vstack([np.ones((5, 3)), np.eye(3)])
    picks = typiclust_picks(x, np.zeros(8, bool), 7, seed=0)
    assert len({i for i, _ in picks}) == 7


def test_suggest_typiclust_with_the_labelled_file_picks_the_new_region(region_model, tmp_path):
    """The model's training rows (region A) as --labelled, a pool of region-A rows and a dense region C (texts of
    three words the model never saw labelled): the picks come from C, the region no label covers."""
    rng = random.Random(1)
    pool = [(f"a{i}", t) for i, t in enumerate(_texts(POS, 20, rng) + _texts(NEG, 20, rng))]
    pool += [(f"c{i}", t) for i, t in enumerate(_texts(["table", "chair", "window"], 40, rng))]
    rng.shuffle(pool)
    with open(tmp_path / "pool.csv", "w", newline="") as f:
        csv.writer(f).writerows([("id", "text")] + pool)
    out = tmp_path / "typ.csv"
    argv = ["suggest", "--model", str(region_model / "model"), "--pool", str(tmp_path / "pool.csv"), "--n", "5",
            "--strategy", "typiclust", "--labelled", str(region_model / "train.csv"), "--output", str(out)]
    assert cli_main(argv) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len({r["id"] for r in rows}) == 5
    assert sum(r["id"].startswith("c") for r in rows) >= 4
    bad = ["suggest", "--model", str(region_model / "model"), "--pool", str(tmp_path / "pool.csv"),
           "--strategy", "entropy", "--labelled", str(region_model / "train.csv"), "--output", str(out)]
    assert cli_main(bad) == 2


def test_suggest_api_takes_labelled_rows_in_memory(region_model, tmp_path):
    import pandas as pd

    pool = pd.read_csv(region_model / "pool.csv")
    with open(region_model / "train.csv") as f:
        labelled = list(csv.DictReader(f))
    rows = labeltune.suggest(model=str(region_model / "model"), pool=pool, labelled=labelled, n=3,
                             strategy="typiclust", output=str(tmp_path / "s.csv"))
    assert len({r["id"] for r in rows}) == 3 and all(r["id"] in set(pool["id"]) for r in rows)


def test_suggest_writes_parquet(region_model, tmp_path):
    """A pool kept as Parquet gets its suggestions as Parquet (was refused: 'write .csv, .tsv or .jsonl')."""
    import pandas as pd

    out = tmp_path / "to_label.parquet"
    argv = ["suggest", "--model", str(region_model / "model"), "--pool", str(region_model / "pool.csv"), "--n", "4",
            "--strategy", "margin", "--output", str(out)]
    assert cli_main(argv) == 0
    df = pd.read_parquet(out)
    assert list(df.columns) == ["rank", "score", "id", "text"] and list(df["rank"]) == [1, 2, 3, 4]


def test_badge_gradient_of_a_sentence_does_not_grow_with_its_length():
    """NER: each word has its own head input; the sentence's gradient embedding is the mean over its words (was the
    sum: a 700-word pool row scored 1027 against 3-7 for short ones, so BADGE took long rows first)."""
    from labeltune.active import gradient_embeddings

    rng = np.random.default_rng(0)
    word_h, word_p = rng.standard_normal(8), np.array([0.6, 0.3, 0.1])

    def sentence(words):
        return {"probs": np.tile(word_p, (words, 1)), "embedding": {"head_input": np.tile(word_h, (words, 1))}}

    g = gradient_embeddings([sentence(5), sentence(700)])
    assert np.allclose(g[0], g[1])  # the same words, more of them: the same embedding
    one = gradient_embeddings([{"probs": word_p, "embedding": {"head_input": word_h}}])[0]  # a classified text
    assert np.allclose(g[0], one)


def _outs(features, probs, per_word=False):
    """`outputs`-shaped rows: a text's head input is one vector; NER words each have their own (2-D)."""
    rows = []
    for x, p in zip(features, probs):
        p = np.atleast_2d(np.asarray(p, float))
        h = np.tile(x, (len(p), 1)) if per_word else np.asarray(x, float)
        rows.append({"probs": p, "embedding": {"head_input": h, "pooled": np.asarray(x, float)}})
    return rows


def test_cal_ranks_rows_predicted_unlike_their_labelled_neighbours_first():
    """CAL (Margatina et al. 2021): two labelled regions, each predicted confidently as its own class. Pool rows
    inside region A predicted as B (contrastive) come first, then a row of A the model is unsure of; rows predicted
    as their neighbours are last. The score is KL(neighbour || row), averaged over the 10 nearest labelled rows."""
    from labeltune.active import cal_picks

    rng = np.random.default_rng(0)
    a, b = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    labelled = _outs([a + 0.05 * rng.standard_normal(3) for _ in range(12)] +
                     [b + 0.05 * rng.standard_normal(3) for _ in range(12)], [[0.95, 0.05]] * 12 + [[0.05, 0.95]] * 12)
    pool = _outs([a + 0.05 * rng.standard_normal(3) for _ in range(6)],
                 [[0.9, 0.1], [0.1, 0.9], [0.95, 0.05], [0.5, 0.5], [0.2, 0.8], [0.92, 0.08]])
    picks = cal_picks(pool, labelled, 6)
    assert [i for i, _ in picks][:3] == [1, 4, 3]
    assert set(i for i, _ in picks[3:]) == {0, 2, 5}
    q, p = np.array([0.1, 0.9]), np.array([0.95, 0.05])  # row 1 against its neighbours, by hand
    assert picks[0][1] == pytest.approx((p * np.log(p / q)).sum(), rel=0.05)
    assert [i for i, _ in cal_picks(pool, labelled, 2)] == [1, 4]
    # sentences of words (NER): each sentence's mean tag distribution, whatever its length
    words = cal_picks(_outs([a, a], [[[0.9, 0.1]] * 3, [[0.1, 0.9]] * 5], per_word=True),
                      _outs([a] * 10 + [b] * 10, [[[0.95, 0.05]] * 4] * 10 + [[[0.05, 0.95]] * 2] * 10,
                            per_word=True), 2)
    assert [i for i, _ in words] == [1, 0]


def test_suggest_cal_needs_the_labelled_rows_and_picks_the_unfamiliar_region(region_model, tmp_path, capsys):
    out = tmp_path / "cal.csv"
    base = ["suggest", "--model", str(region_model / "model"), "--pool", str(region_model / "pool.csv"), "--n", "20",
            "--strategy", "cal", "--output", str(out)]
    assert cli_main(base) == 2 and not out.exists()  # without --labelled: refused before any work
    assert "nearest labelled rows: give the file of rows already labelled" in capsys.readouterr().err
    # a missing file is named by its flag (the message was "<path> does not exist")
    assert cli_main(base + ["--labelled", str(tmp_path / "nope.csv")]) == 2
    assert f"--labelled {tmp_path / 'nope.csv'}: no such file" in capsys.readouterr().err
    assert cli_main(base + ["--labelled", str(region_model / "train.csv")]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len({r["id"] for r in rows}) == 20
    # region B's rows are predicted unlike the region-A rows nearest them, which the model is sure of (measured: 20)
    assert sum(r["id"].startswith("b") for r in rows) >= 16
    assert [float(r["score"]) for r in rows] == sorted((float(r["score"]) for r in rows), reverse=True)
