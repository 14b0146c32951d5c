"""Configuration: every bad input is a one-line ConfigError naming the key and the value."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigreport.config import (
    DEFAULT_PRESET,
    Config,
    ModelConfig,
    SignaturesConfig,
    config_to_dict,
    config_to_toml,
    list_presets,
    load_config,
    override_config,
)
from sigreport.errors import ConfigError

PRESETS = ["fashion-cnn", "mnist-1-3-7", "mnist-1-7", "mnist-cnn", "mnist-open-set",
           "original-2021", "original-2021-sigreport"]


def _error(source: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(source, list(overrides))
    message = str(info.value)
    assert "\n" not in message, message  # the CLI prints it as one line
    return message


# (--set assignment, key the message must name, value text the message must show)
BAD_OVERRIDES = [
    # unknown keys, with a suggestion
    ("trian.epochs=3", "trian.epochs", "'train.epochs'"),
    ("data.n_per_clas=5", "data.n_per_clas", "'data.n_per_class'"),
    ("sed=1", "sed", "'seed'"),
    ("model.hiden=[8]", "model.hiden", "'model.hidden'"),
    ("train.epochs.max=3", "train.epochs.max", "unknown key"),
    # wrong types
    ('train.epochs="3"', "train.epochs", "'3'"),
    ("train.epochs=3.5", "train.epochs", "3.5"),
    ("train.epochs=true", "train.epochs", "true"),
    ("data.n_per_class=100.0", "data.n_per_class", "100.0"),
    ('data.classes=["1", "7"]', "data.classes", "'1'"),
    ('model.hidden=["64", "32"]', "model.hidden", "'64'"),
    ("data.classes=1", "data.classes", "= 1"),
    ('data.download="yes"', "data.download", "'yes'"),
    ('train.learning_rate="fast"', "train.learning_rate", "'fast'"),
    ("train.learning_rate=true", "train.learning_rate", "true"),
    ("name=3", "name", "3"),
    ("title=[1]", "title", "[1]"),
    ("data=3", "data", "3"),
    ("data.path=0", "data.path", "0"),
    ('model.activation="softplus"', "model.activation", "'softplus'"),
    ('model.loss="hinge"', "model.loss", "'hinge'"),
    ('train.optimizer="rmsprop"', "train.optimizer", "'rmsprop'"),
    ('data.dataset="cifar"', "data.dataset", "'cifar'"),
    ('signatures.method="dbscan"', "signatures.method", "'dbscan'"),
    # out of range
    ("seed=-1", "seed", "-1"),
    ("seed=2147483648", "seed", "2147483648"),
    ("seeds=[0, -3]", "seeds", "-3"),
    ("train.epochs=0", "train.epochs", "0"),
    ("train.momentum=1.5", "train.momentum", "1.5"),
    ("train.learning_rate=0", "train.learning_rate", "0"),
    ("train.learning_rate=-1e-3", "train.learning_rate", "-0.001"),
    ("train.learning_rate=inf", "train.learning_rate", "inf"),
    ("train.learning_rate=nan", "train.learning_rate", "nan"),
    ("train.weight_decay=-0.1", "train.weight_decay", "-0.1"),
    ("train.snapshot_epochs=[1, 50]", "train.snapshot_epochs", "50"),
    ("signatures.k=1", "signatures.k", "1"),
    ("signatures.k=20", "signatures.k", "20"),
    ("signatures.specific_threshold=0.3", "signatures.specific_threshold", "0.3"),
    ("signatures.subsample=5", "signatures.subsample", "5"),
    ("analysis.separation_measure=\"nmi\"", "analysis.separation_measure", "'nmi'"),
    ("analysis.n_bootstrap=5", "analysis.n_bootstrap", "5"),
    ("signatures.boundary_quantile=0.4", "signatures.boundary_quantile", "0.4"),
    ("analysis.knn_k=0", "analysis.knn_k", "0"),
    ("report.max_points=5", "report.max_points", "5"),
    # the options that replay the original study's code
    ('data.selection="last"', "data.selection", "'last'"),
    ('data.probe_split="validation"', "data.probe_split", "'validation'"),
    ("data.n_probe_per_class=0", "data.n_probe_per_class", "0"),
    ('model.init="he_normal"', "model.init", "'he_normal'"),
    ("train.epsilon=0", "train.epsilon", "0"),
    ("train.epsilon=-1e-7", "train.epsilon", "-1e-07"),
    ('train.drop_last="no"', "train.drop_last", "'no'"),
    ('signatures.fit_on="probe"', "signatures.fit_on", "'probe'"),
    ("signatures.k_min=0", "signatures.k_min", "0"),
    ("signatures.k_min=3", "signatures.k_min", "3"),
    ("signatures.k_n_init=0", "signatures.k_n_init", "0"),
    ("signatures.n_init=0", "signatures.n_init", "0"),
    ("signatures.n_init=2.5", "signatures.n_init", "2.5"),
    # duplicate classes, fewer than two classes
    ("data.classes=[1, 1, 7]", "data.classes", "[1, 1, 7]"),
    ("data.probe_classes=[3, 3]", "data.probe_classes", "[3, 3]"),
    ("data.classes=[7]", "data.classes", "[7]"),
    ("data.classes=[]", "data.classes", "[]"),
    # class ids no data set has (ids a data set lacks are refused once it is loaded)
    ("data.classes=[1, -1]", "data.classes", "-1"),
    ("data.classes=[-1, 7]", "data.classes", "-1"),
    ("data.probe_classes=[-3]", "data.probe_classes", "-3"),
    # probes overlapping the trained classes
    ("data.probe_classes=[7]", "data.probe_classes", "[7]"),
    ("data.probe_classes=[3, 1]", "data.probe_classes", "[3, 1]"),
    # non-positive sizes
    ("data.n_per_class=0", "data.n_per_class", "0"),
    ("data.n_per_class=-5", "data.n_per_class", "-5"),
    ("data.n_test_per_class=0", "data.n_test_per_class", "0"),
    ('data.n_per_class="every"', "data.n_per_class", "'every'"),
    ("data.n_test_per_class=true", "data.n_test_per_class", "true"),
    ("train.batch_size=0", "train.batch_size", "0"),
    ("model.hidden=[0]", "model.hidden", "0"),
    ("model.hidden=[64, -1]", "model.hidden", "-1"),
    ("model.hidden=[]", "model.hidden", "[]"),
    # names that would write outside the output folder
    ('name="../x"', "name", "'../x'"),
    ('name="/abs"', "name", "'/abs'"),
    ('name="a/b"', "name", "'a/b'"),
    ('name="a\\\\b"', "name", "'a\\\\b'"),
    ('name=".hidden"', "name", "'.hidden'"),
    ('name=".."', "name", "'..'"),
    ('name=""', "name", "''"),
    ('name="x\\n"', "name", "'x\\n'"),  # regression: '$' matched before a final newline
    # --set without '=' and with a value that is not TOML
    ("train.epochs", "train.epochs", "KEY=VALUE"),
    ("=3", "=3", "KEY=VALUE"),
    ("name=x", "name=x", "not a TOML value"),
    ("data.classes=[1, 7", "data.classes=[1, 7", "not a TOML value"),
    ("train.epochs=3 4", "train.epochs=3 4", "not a TOML value"),
    ("train.epochs=", "train.epochs", "not a TOML value"),
]


@pytest.mark.parametrize("assignment,key,shown", BAD_OVERRIDES,
                         ids=[case[0] for case in BAD_OVERRIDES])
def test_bad_override(assignment, key, shown):
    message = _error(None, [assignment])
    assert key in message, message
    assert shown in message, message


# (TOML file text, key, value text)
BAD_FILES = [
    ("[trian]\nepochs = 3\n", "trian", "'train'"),
    ("[data]\nn_per_clas = 5\n", "data.n_per_clas", "'data.n_per_class'"),
    ("[train]\nepochs = 'ten'\n", "train.epochs", "'ten'"),
    ("[data]\nclasses = [3]\nprobe_classes = []\n", "data.classes", "[3]"),
    ("[data]\nclasses = [1, 7]\nprobe_classes = [7]\n", "data.probe_classes", "[7]"),
    ("name = '../../etc'\n", "name", "'../../etc'"),
    ("data = 'mnist'\n", "data", "'mnist'"),
    ("[data.extra]\nx = 1\n", "data.extra", "unknown key"),
]


@pytest.mark.parametrize("text,key,shown", BAD_FILES, ids=[c[1] for c in BAD_FILES])
def test_bad_file(tmp_path, text, key, shown):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    message = _error(str(path))
    assert key in message and shown in message, message


def test_missing_file(tmp_path):
    for source in (str(tmp_path / "nope.toml"), "nope.toml", str(tmp_path / "sub" / "x")):
        message = _error(source)
        assert repr(source) in message and "does not exist" in message


def test_malformed_toml_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n[data\n")
    message = _error(str(path))
    assert str(path) in message and "malformed TOML" in message and "line 1" in message


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("title = 'caf\u00e9'\n".encode("latin-1"))
    message = _error(str(path))
    assert str(path) in message and "cannot be read" in message


def test_unknown_preset_with_suggestion():
    message = _error("mnist-1-8")
    assert "unknown preset 'mnist-1-8'" in message
    assert "did you mean 'mnist-1-7'" in message
    for name in PRESETS:
        assert name in message


def test_unknown_preset_without_suggestion():
    message = _error("zzzzzz")
    assert "unknown preset 'zzzzzz'" in message and "did you mean" not in message


def test_regression_folder_named_like_a_preset(tmp_path, monkeypatch):
    # Running from the report folder, where mnist-1-7/ is a report: the preset
    # name was taken for a config file path that "does not exist".
    (tmp_path / "mnist-1-7").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_config("mnist-1-7").name == "mnist-1-7"
    assert load_config(None).name == DEFAULT_PRESET


def test_a_file_path_without_toml_suffix(tmp_path, monkeypatch):
    (tmp_path / "myexp").write_text("name = 'mine'\n")
    monkeypatch.chdir(tmp_path)
    assert load_config("myexp").name == "mine"


# --- good input --------------------------------------------------------------------


def test_defaults_are_the_default_preset():
    cfg = load_config()
    assert cfg.name == DEFAULT_PRESET == "mnist-1-7"
    assert cfg.data.classes == (1, 7) and cfg.data.probe_classes == (3,)
    assert cfg.seed == 0 and cfg.all_seeds == (0, 1, 2)


def test_set_parses_toml_values():
    cfg = load_config(None, [
        "data.classes=[1,3,7]",
        "data.probe_classes=[8]",
        'name="x"',
        "train.learning_rate=1e-3",
        " train.epochs = 3 ",
        'title="a = b"',
        "seeds=[0, 1, 2]",
        "data.download=true",
        "train.snapshot_epochs=[0, 1, 3]",
        "signatures.k=4",
    ])
    assert cfg.data.classes == (1, 3, 7) and cfg.data.probe_classes == (8,)
    assert cfg.name == "x"
    assert cfg.train.learning_rate == 1e-3 and isinstance(cfg.train.learning_rate, float)
    assert cfg.train.epochs == 3
    assert cfg.title == "a = b"
    assert cfg.seeds == (0, 1, 2) and cfg.all_seeds == (0, 1, 2)
    assert cfg.data.download is True
    assert cfg.train.snapshot_epochs == (0, 1, 3)
    assert cfg.signatures.k == 4


def test_set_int_for_float_key():
    cfg = load_config(None, ["train.learning_rate=1"])
    assert cfg.train.learning_rate == 1.0 and isinstance(cfg.train.learning_rate, float)


def test_later_overrides_win():
    assert load_config(None, ["train.epochs=3", "train.epochs=4"]).train.epochs == 4


def test_overrides_on_a_file(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text("name = 'exp'\n[train]\nepochs = 2\n")
    cfg = load_config(str(path), ["train.batch_size=7"])
    assert cfg.name == "exp" and cfg.train.epochs == 2 and cfg.train.batch_size == 7
    # Keys absent from the file take the dataclass defaults.
    assert cfg.model == ModelConfig() and cfg.signatures == SignaturesConfig()


def test_config_is_frozen():
    cfg = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3  # type: ignore[misc]


def test_list_presets():
    assert list_presets() == PRESETS


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_loads(preset):
    cfg = load_config(preset)
    assert isinstance(cfg, Config)
    assert cfg.name == preset
    assert cfg.title
    assert not set(cfg.data.classes) & set(cfg.data.probe_classes)


def test_preset_contents():
    assert load_config("mnist-1-3-7").data.classes == (1, 3, 7)
    assert load_config("mnist-1-3-7").data.probe_classes == (8,)
    open_set = load_config("mnist-open-set")
    assert open_set.data.classes == (0, 1, 2, 3, 4)
    assert open_set.data.probe_classes == (5, 6, 7, 8, 9)


ORIGINAL_DATA = {"dataset": "mnist", "classes": [1, 7], "probe_classes": [3], "n_per_class": 100,
                 "selection": "first", "probe_split": "train", "n_probe_per_class": 100}
ORIGINAL_MODEL = {"hidden": [32, 16], "activation": "relu", "loss": "mse",
                  "init": "glorot_uniform"}
ORIGINAL_TRAIN = {"optimizer": "adam", "learning_rate": 1e-4, "epsilon": 1e-7, "batch_size": 12,
                  "drop_last": False, "epochs": 15}


def test_original_2021_resolves_to_the_original_code():
    """The resolved config.toml a run writes shows what the original code did."""
    written = tomllib.loads(config_to_toml(load_config("original-2021")))
    for section, expected in (("data", ORIGINAL_DATA), ("model", ORIGINAL_MODEL),
                              ("train", ORIGINAL_TRAIN)):
        assert {k: written[section][k] for k in expected} == expected, section
    assert "n_test_per_class" not in written["data"]   # every test 1 and 7
    sig = written["signatures"]
    assert {k: sig[k] for k in ("method", "fit_on", "standardize", "k_rule", "k_min", "k_max",
                                "k_n_init", "n_init")} == {
        "method": "kmeans", "fit_on": "train+probe", "standardize": True, "k_rule": "silhouette",
        "k_min": 1, "k_max": 3, "k_n_init": 10, "n_init": 100}
    assert written["report"]["projection"] == "umap"


def test_original_2021_sigreport_changes_only_the_signature_methods():
    original, methods = load_config("original-2021"), load_config("original-2021-sigreport")
    assert (methods.data, methods.model, methods.train) == (
        original.data, original.model, original.train)
    assert methods.signatures == SignaturesConfig()   # sigreport's defaults: fitted on train


# --- round trip ------------------------------------------------------------------


def _round_trip(cfg: Config, tmp_path) -> Config:
    path = tmp_path / "resolved.toml"
    path.write_text(config_to_toml(cfg), encoding="utf-8")
    return load_config(str(path))


@pytest.mark.parametrize("preset", PRESETS)
def test_config_to_toml_round_trips_presets(preset, tmp_path):
    cfg = load_config(preset)
    assert _round_trip(cfg, tmp_path) == cfg


def test_config_to_toml_round_trips_every_field_set(tmp_path):
    cfg = load_config(None, [
        "data.n_test_per_class=40", "signatures.k=5", "seeds=[3, 4]",
        "train.snapshot_epochs=[0, 5]", "train.learning_rate=1e-05", "train.weight_decay=1e16",
        'data.path="/some where/ü"', 'data.dataset="fashion-mnist"',
    ])
    again = _round_trip(cfg, tmp_path)
    assert again == cfg
    assert config_to_dict(again)["signatures"]["k"] == 5
    assert "k" not in config_to_dict(load_config())["signatures"]  # None is omitted


def test_all_images_per_class_round_trips(tmp_path):
    cfg = load_config(None, ['data.n_per_class="all"', 'data.n_test_per_class="all"'])
    assert cfg.data.n_per_class == "all" and cfg.data.n_test_per_class == "all"
    assert 'n_per_class = "all"' in config_to_toml(cfg)
    assert _round_trip(cfg, tmp_path) == cfg


TRICKY_TITLES = [
    'say "hi"',
    "back\\slash \\n not a newline",
    "line one\nline two\r\n\ttabbed",
    "<script>alert('x')</script>",
    "''' \"\"\" ''",
    "\x00\x1f\x7f control",  # regression: DEL was written raw, which TOML forbids
    "émoji 🎉 \u2028 sep",
]


@pytest.mark.parametrize("title", TRICKY_TITLES)
def test_config_to_toml_round_trips_tricky_titles(title, tmp_path):
    cfg = dataclasses.replace(load_config(), title=title)
    again = _round_trip(cfg, tmp_path)
    assert again.title == title
    assert again == cfg


@settings(max_examples=200, deadline=None)
@given(title=st.text(max_size=40))
def test_config_to_toml_round_trips_any_title(title):
    cfg = dataclasses.replace(load_config(), title=title)
    assert load_config_from_text(config_to_toml(cfg)) == cfg


def load_config_from_text(text: str) -> Config:
    """What load_config does with a file, without the file."""
    from sigreport import config as config_module

    return config_module._validate(tomllib.loads(text))


def test_file_without_name_reports_under_its_own_name(tmp_path):
    """Regression: a file with no `name` used to default to mnist-1-7 and overwrite its report."""
    path = tmp_path / "my-run.toml"
    path.write_text("[train]\nepochs = 2\n")
    assert load_config(str(path)).name == "my-run"
    assert load_config(str(path), ['name="other"']).name == "other"


def test_regression_file_saved_with_a_byte_order_mark(tmp_path):
    # Notepad and some other editors start UTF-8 files with a BOM; it was a TOML error.
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeffname = \"with-bom\"\n[train]\nepochs = 2\n".encode())
    config = load_config(str(path))
    assert (config.name, config.train.epochs) == ("with-bom", 2)


@pytest.mark.parametrize("name", ["index", "INDEX", "README", "readme"])
def test_regression_names_of_site_pages_are_refused(name):
    with pytest.raises(ConfigError, match=f"name = '{name}': expected a name that is not"):
        load_config(None, [f'name="{name}"'])
    assert load_config(None, [f'name="{name}-2"']).name == f"{name}-2"


@pytest.mark.parametrize("assignment", ['train.epochs=3\nname="x"', "train.epochs=3\r",
                                        "data.classes=[1,\n7]"])
def test_regression_newline_in_set_is_refused(assignment):
    # TOML read the next line as another key, silently dropped.
    with pytest.raises(ConfigError, match="expected KEY=VALUE on one line"):
        load_config(None, [assignment])


# --- a Config made or changed in Python is checked as the TOML path checks it -----------

def _python_cases() -> list[tuple[str, str, str, object]]:
    """The BAD_OVERRIDES that name a known field with a TOML value: (assignment, section,
    field, value), for building the same config in Python."""
    cases = []
    defaults = Config()
    known = {"": {f.name for f in dataclasses.fields(Config)}}
    for f in dataclasses.fields(Config):
        if dataclasses.is_dataclass(getattr(defaults, f.name)):
            known[f.name] = {g.name for g in dataclasses.fields(getattr(defaults, f.name))}
    for assignment, _key, _shown in BAD_OVERRIDES:
        key, sep, text = assignment.partition("=")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            continue
        section, _, name = key.rpartition(".")
        if not sep or section not in known or name not in known[section] or name in known:
            continue
        cases.append((assignment, section, name, value))
    return cases


PYTHON_CASES = _python_cases()


def test_python_cases_cover_every_section():
    assert {section for _a, section, _n, _v in PYTHON_CASES} == {
        "", "data", "model", "train", "signatures", "analysis", "report"}


@pytest.mark.parametrize("assignment,section,name,value", PYTHON_CASES,
                         ids=[case[0] for case in PYTHON_CASES])
def test_python_replace_is_refused_as_the_toml_path_refuses(assignment, section, name, value):
    expected = _error(None, [assignment])
    config = load_config()
    with pytest.raises(ConfigError) as info:
        if section:
            dataclasses.replace(config, **{section: dataclasses.replace(
                getattr(config, section), **{name: value})})
        else:
            dataclasses.replace(config, **{name: value})
    assert str(info.value) == expected


def test_regression_a_name_replaced_in_python_cannot_leave_the_output_folder():
    with pytest.raises(ConfigError, match=r"^name = '\.\./escaped': expected a folder name"):
        dataclasses.replace(load_config(), name="../escaped")


def test_regression_a_one_class_classifier_cannot_be_made_in_python():
    from sigreport.config import DataConfig

    with pytest.raises(ConfigError, match=r"^data.classes = \[1\]: expected at least two"):
        DataConfig(classes=(1,))


def test_a_section_that_is_not_its_dataclass_is_refused():
    with pytest.raises(ConfigError, match=r"^model = \{'hidden': \[8\]\}: expected a ModelConfig"):
        Config(model={"hidden": [8]})  # type: ignore[arg-type]


def test_python_values_are_normalised_as_toml_values_are():
    import numpy as np

    from sigreport.config import DataConfig, TrainConfig

    data = DataConfig(classes=[np.int64(1), 7], n_per_class=np.int64(30))  # type: ignore[arg-type]
    assert data.classes == (1, 7) and type(data.classes[0]) is int
    assert data.n_per_class == 30 and type(data.n_per_class) is int
    assert TrainConfig(learning_rate=1).learning_rate == 1.0
    assert dataclasses.replace(load_config(), data=data) == load_config(
        None, ["data.n_per_class=30"])
    hash(Config(data=data))  # tuples, not lists: still hashable


_DEEP = 500


@pytest.mark.parametrize("text", [
    "v = " + "[" * _DEEP + "]" * _DEEP,                       # arrays
    "v = " + "{a = " * _DEEP + "1" + "}" * _DEEP,             # inline tables
    "[data]\nclasses = " + "[" * 40 + "1" + "]" * 40,        # deeper than read, not recursive
    "a" + ".a" * 2000 + " = 1",                              # dotted keys
])
def test_regression_deeply_nested_toml_file_is_one_line(tmp_path, text):
    # About 500 levels gave a RecursionError traceback of 3,000 lines.
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(str(path))
    assert str(refused.value) == (f"{path}: tables and arrays nested more than 32 levels deep; "
                                  "expected at most 32")


@pytest.mark.parametrize("value", ["[" * _DEEP + "]" * _DEEP, "{a = " * 40 + "1" + "}" * 40])
def test_regression_deeply_nested_set_value_is_one_line(value):
    with pytest.raises(ConfigError, match=r"^--set model\.hidden: tables and arrays nested more "
                                          r"than 32 levels deep"):
        load_config(None, [f"model.hidden={value}"])


def test_regression_deep_toml_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    from conftest import one_error_line, run_cli

    (tmp_path / "deep.toml").write_text("v = " + "[" * _DEEP + "]" * _DEEP)
    one_error_line(run_cli("run", "deep.toml", cwd=tmp_path), "nested more than 32 levels")
    one_error_line(run_cli("run", "--set", "seed=" + "[" * _DEEP + "]" * _DEEP, cwd=tmp_path),
                   "--set seed: tables and arrays nested more than 32 levels")


def test_regression_a_run_asking_other_classes_is_not_titled_with_the_presets_question():
    # `--set data.classes=[0,...,8] --set data.probe_classes=[9]` kept the default preset's
    # title: a Fashion-MNIST run of nine classes was headed "MNIST 1 vs 7, probed with 3".
    assert load_config().title == "MNIST 1 vs 7, probed with 3"
    assert load_config(None, ["train.epochs=2"]).title == "MNIST 1 vs 7, probed with 3"
    assert load_config(None, ["data.classes=[2,5]"]).title == "MNIST 2 vs 5, probed with 3"
    nine = load_config(None, ['data.dataset="fashion-mnist"', "data.classes=[0,1,2,3,4,5,6,7,8]",
                              "data.probe_classes=[9]"])
    assert nine.title == "Fashion-MNIST classes 0, 1, 2, 3, 4, 5, 6, 7, 8, probed with 9"
    assert load_config(None, ["data.probe_classes=[]"]).title == "MNIST 1 vs 7"
    # A title the user gives is theirs, in either order.
    mine, other = 'title="mine"', "data.classes=[2,5]"
    for order in ([mine, other], [other, mine]):
        assert load_config(None, order).title == "mine"
    # The same rule where a config made in Python is overridden.
    assert override_config(load_config(), ["data.probe_classes=[4,5]"]).title == \
        "MNIST 1 vs 7, probed with 4 and 5"
