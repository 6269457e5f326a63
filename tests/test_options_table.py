"""The options of `score` are one table: a row added there is a flag (both spellings), a field
of Options and a keyword of kd.score, an attribute of the score file and a word of the rerun
command, which parses back to the same run."""
import json
import shlex
from dataclasses import fields

import h5py
import pytest

import _kipoi_dirs as K
import kipoi_deeplift as kd
from kipoi_deeplift import cli
from kipoi_deeplift.io import scorefile
from kipoi_deeplift.kipoi import options as options_lib


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return K.make_world(tmp_path_factory.mktemp("options"))


@pytest.fixture
def added():
    row = options_lib.Option("window_test", ("--window-test",), type=int, default=7,
                             attribute="window_test", same="run",
                             help="a test option added in one row")
    options_lib.add_option(row)
    try:
        yield row
    finally:
        options_lib.remove_option("window_test")
    assert "window_test" not in {f.name for f in fields(options_lib.Options)}


def _score(world, out, *extra):
    return ["score", str(world["model"]), "--dataloader-args", world["args"], "-o", str(out),
            "--n-references", "2", "--batch-size", "4", *extra]


def test_an_option_added_in_one_row_reaches_the_flag_the_file_and_the_rerun(world, added,
                                                                             capsys):
    usage = cli.build_parser().parse_args(["score", "m"])
    assert usage.window_test == 7
    assert cli.build_parser().parse_args(["score", "m", "--window_test", "3"]).window_test == 3
    assert "window_test" in {f.name for f in fields(options_lib.Options)}
    assert kd.Options(window_test=5).window_test == 5          # kd.Options is the new class
    assert "window_test" in options_lib.same_keys("run")

    out = world["d"] / "added.h5"
    assert cli.main(_score(world, out, "--window-test", "9")) == 0
    with h5py.File(out) as f:
        attrs = dict(f.attrs)
    assert attrs["window_test"] == 9
    words = shlex.split(attrs["command"])
    assert words[words.index("--window-test") + 1] == "9"
    # At its default the rerun command leaves it out; the file still records it.
    out2 = world["d"] / "added_default.h5"
    kd.score(str(world["model"]), world["args"], str(out2), n_references=2, batch_size=4)
    with h5py.File(out2) as f:
        assert f.attrs["window_test"] == 7
        assert "--window-test" not in f.attrs["command"]
    # Shards that differ in a row whose results differ are not one run.
    from kipoi_deeplift.io.merge import _check

    for path, value in ((out, 9), (out2, 7)):
        with h5py.File(path, "a") as f:
            f.attrs.update(shard="1/2" if value == 9 else "2/2", shard_start=0, shard_stop=8)
    with pytest.raises(kd.UserError, match="window_test"):
        _check([str(out), str(out2)], options_lib.same_keys("run"))


def test_the_rerun_command_parses_back_to_the_run(world):
    """The recorded command, read by the same parser, gives the options the run used (the
    inverse of the table's words, for every row the command writes)."""
    out = world["d"] / "round.h5"
    assert cli.main(_score(world, out, "--hypothetical", "--layers", "conv", "--limit", "5",
                           "--shard", "1/1", "--dtype", "float16",
                           "--bigwig", str(world["d"] / "trk"))) == 0
    with h5py.File(out) as f:
        attrs = dict(f.attrs)
    words = shlex.split(attrs["command"])
    assert words[:2] == ["kipoi-deeplift", "score"]
    parsed = cli.build_parser().parse_args(words[1:])
    again = options_lib.from_args(parsed)
    assert again.rule == attrs["rule"] and again.n_references == attrs["n_references"] == 2
    assert again.batch_size == attrs["batch_size"] == 4
    # --limit with --shard: the shard is cut from the first 5 (was left out of the command)
    assert again.layers == ("conv",) and again.limit == 5 and again.shard == "1/1"
    assert again.dtype == "float16"
    assert again.hypothetical and again.derived == {"bigwig": str(world["d"] / "trk")}
    assert again.tasks.split(",") == json.loads(attrs["tasks"])
    assert again.zoo_config == "none" and again.source == "dir"
    assert json.loads(" ".join(parsed.dataloader_args)) == json.loads(world["args"])
    # Every attribute the table records is in the file.
    for row in options_lib.SCORE_OPTIONS:
        if row.attribute:
            assert row.attribute in attrs, row.name


def test_the_table_is_the_only_source():
    """Every flag of `score` is a row's (or a derived format's), every Options field a row,
    the defaults and the identity of a run the rows' (the score file's identity list holds
    only options the table marks as changing results)."""
    from kipoi_deeplift.io.derived import FORMATS

    rows = {r.name: r for r in options_lib.SCORE_OPTIONS}
    score = next(a for a in cli.build_parser()._subparsers._group_actions[0].choices.items()
                 if a[0] == "score")[1]
    dests = {a.dest for a in score._actions} - {"help", "model"}
    assert dests == (set(rows) - {"derived", "progress"}) | set(FORMATS)
    assert {f.name for f in fields(options_lib.Options)} == \
        {n for n, r in rows.items() if not r.argument}
    assert options_lib.DEFAULTS == {"rule": "genomics-default", "references": "dinuc-shuffle",
                                    "n_references": 20, "seed": 0, "maxpool": "exact"}
    options_attrs = {r.attribute for r in rows.values() if r.attribute}
    assert set(scorefile.PROVENANCE) & options_attrs <= set(options_lib.same_keys("run"))
    # A layered setting is not given unless given; others carry their default.
    assert options_lib.Options().rule is None and options_lib.Options().dtype == "float32"
    with pytest.raises(ValueError, match="exists"):
        options_lib.add_option(options_lib.Option("rule"))


def test_the_readme_shows_the_table():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    copy = readme.split("<!-- score-options -->\n")[1].split("\n<!-- /score-options -->")[0]
    assert copy == options_lib.markdown()
    assert "`--num-workers`" in copy and "`-n`" in copy


def test_added_rows_that_are_layered_or_unset(world):
    """A layered row joins DEFAULTS and the model's defaults; a row left unset (None) and
    one holding a list are recorded as HDF5 stores them; only added rows can be removed."""
    rows = [options_lib.Option("smooth", ("--smooth",), type=int, default=5, layered=True,
                               attribute="smooth", same="run", help="a layered test option"),
            options_lib.Option("note", ("--note",), attribute="note", help="unset: None"),
            options_lib.Option("labels", (), default=("a", "b"), cli=False, attribute="labels",
                               help="a Python-only tuple")]
    for row in rows:
        options_lib.add_option(row)
    try:
        assert options_lib.DEFAULTS["smooth"] == 5
        assert options_lib.layered(options_lib.Options(), {"smooth": 9})["smooth"] == 9
        assert options_lib.layered(options_lib.Options(smooth=2), {"smooth": 9})["smooth"] == 2
        out = world["d"] / "unset.h5"
        kd.score(str(world["model"]), world["args"], str(out), n_references=2, batch_size=4)
        with h5py.File(out) as f:
            assert f.attrs["smooth"] == 5 and f.attrs["note"] == ""
            assert json.loads(f.attrs["labels"]) == ["a", "b"]
            assert "--smooth 5" not in f.attrs["command"]      # at its default
    finally:
        for row in rows:
            options_lib.remove_option(row.name)
    assert "smooth" not in options_lib.DEFAULTS
    with pytest.raises(ValueError, match="not added"):
        options_lib.remove_option("rule")
