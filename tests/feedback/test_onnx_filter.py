"""The ONNX classifier filter on a real (tiny) model run by ONNX Runtime: a bag-of-words linear
classifier built here with onnx.helper, and a Hugging Face tokenizers file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from desktop.feedback import FilterError, Moderator, OnnxClassifierFilter, RuleBasedFilter
from desktop.feedback.content_filter import Detection

VOCAB = ["[UNK]", "hello", "friend", "idiot", "stupid", "kill", "you", "cake"]
LABELS = ["harassment", "violence", "neutral"]


def weights() -> tuple[np.ndarray, np.ndarray]:
    """Per-word evidence for each label, and the biases."""
    rng = np.random.default_rng(7)
    W = rng.normal(0.0, 0.1, size=(len(VOCAB), len(LABELS))).astype(np.float32)
    W[VOCAB.index("idiot"), 0] += 3.0
    W[VOCAB.index("stupid"), 0] += 2.0
    W[VOCAB.index("kill"), 1] += 3.5
    W[VOCAB.index("friend"), 2] += 2.0
    W[VOCAB.index("cake"), 2] += 2.0
    b = np.array([-2.0, -2.0, 0.0], dtype=np.float32)
    return W, b


def build_model(folder: Path, *, labels: list[str], problem_type: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    W, b = weights()
    nodes = [
        helper.make_node("Gather", ["W", "input_ids"], ["per_token"], axis=0),  # [1, T, C]
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),  # [1, T, 1]
        helper.make_node("Mul", ["per_token", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),  # [1, C]
        helper.make_node("Add", ["summed", "b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "bag_of_words",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "T"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "T"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, len(labels)])],
        initializer=[
            numpy_helper.from_array(W, "W"),
            numpy_helper.from_array(b, "b"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    config: dict[str, object] = {"id2label": {str(i): name for i, name in enumerate(labels)}}
    if problem_type:
        config["problem_type"] = problem_type
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def reference_logits(text: str) -> np.ndarray:
    """The classifier computed by hand: sum of the word vectors plus the biases."""
    W, b = weights()
    words = [w for w in text.lower().replace("!", " ! ").replace(",", " , ").split()]
    ids = [VOCAB.index(w) if w in VOCAB else 0 for w in words]
    return W[ids].sum(axis=0) + b


@pytest.fixture
def multi_label(tmp_path: Path) -> Path:
    folder = tmp_path / "bow-classifier"
    build_model(folder, labels=LABELS, problem_type="multi_label_classification")
    return folder


@pytest.mark.parametrize("text", ["hello friend", "you idiot", "I will kill you, idiot!", "cake"])
def test_scores_equal_the_reference_computation(multi_label: Path, text: str) -> None:
    classifier = OnnxClassifierFilter(multi_label)
    expected = 1.0 / (1.0 + np.exp(-reference_logits(text)))
    scores = classifier.scores(text)
    # "neutral" is not a content-filter category, so it is not reported.
    assert set(scores) == {"harassment", "violence"}
    assert scores["harassment"] == pytest.approx(float(expected[0]), rel=1e-5)
    assert scores["violence"] == pytest.approx(float(expected[1]), rel=1e-5)


def test_detections_respect_the_threshold(multi_label: Path) -> None:
    classifier = OnnxClassifierFilter(multi_label, threshold=0.5)
    assert classifier.name == "onnx:bow-classifier"
    assert classifier.detect("hello friend, cake") == []
    assert [d.category for d in classifier.detect("you stupid idiot")] == ["harassment"]
    found = {d.category for d in classifier.detect("kill you idiot")}
    assert found == {"harassment", "violence"}
    strict = OnnxClassifierFilter(multi_label, threshold=0.999)
    assert strict.detect("you stupid idiot") == []


def test_the_classifier_plugs_into_the_moderator_beside_the_rules(multi_label: Path) -> None:
    moderator = Moderator(
        [RuleBasedFilter({"hate": "vermin"}), OnnxClassifierFilter(multi_label)],
        {"harassment": "block", "hate": "warn"},
    )
    result = moderator.check("you idiot, vermin", "output")
    assert [(f.category, f.action, f.filter) for f in result.flags] == [
        ("hate", "warn", "rules"),
        ("harassment", "block", "onnx:bow-classifier"),
    ]
    assert result.blocked
    assert 0.5 < result.flags[1].score < 1.0


def test_softmax_labels_mapped_by_parley_filter_json(tmp_path: Path) -> None:
    folder = tmp_path / "toxicity"
    build_model(folder, labels=["insult", "threat", "ok"], problem_type=None)
    (folder / "parley_filter.json").write_text(
        json.dumps({"labels": {"insult": "harassment", "threat": "violence"}, "threshold": 0.6})
    )
    classifier = OnnxClassifierFilter(folder)
    logits = reference_logits("kill kill you")
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    scores = classifier.scores("kill kill you")
    assert scores["violence"] == pytest.approx(float(softmax[1]), rel=1e-5)
    assert classifier.threshold == 0.6
    assert [d.category for d in classifier.detect("kill kill you")] == ["violence"]
    assert classifier.detect("hello") == []


def test_empty_text_is_classified_without_error(multi_label: Path) -> None:
    assert OnnxClassifierFilter(multi_label).detect("") == []
    scores = OnnxClassifierFilter(multi_label).scores("")
    assert set(scores) == {"harassment", "violence"}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "tokenizer.json").unlink(), "has no tokenizer.json"),
        (lambda f: (f / "config.json").write_text("{}"), "cannot read the classifier"),
        (
            lambda f: (f / "config.json").write_text(
                '{"id2label": {"0": "a", "1": "b", "2": "c"}}'
            ),
            "none of the classifier's labels",
        ),
        (lambda f: (f / "model.onnx").write_bytes(b"not a model"), "cannot load the classifier"),
        (
            lambda f: (f / "parley_filter.json").write_text('{"labels": {"neutral": "spam"}}'),
            "unknown category 'spam'",
        ),
    ],
)
def test_an_unusable_folder_gives_one_clear_error(multi_label: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    damage(multi_label)
    with pytest.raises(FilterError, match=message):
        OnnxClassifierFilter(multi_label)


def test_detection_type_is_shared_with_the_rules(multi_label: Path) -> None:
    (found,) = OnnxClassifierFilter(multi_label).detect("kill")
    assert isinstance(found, Detection)
    assert found.evidence == ""
