"""Two-part export of text models: the tokenizer as JSON + one ONNX graph from token ids.

A text model's sources read tokens, and tokenizing is string work no ONNX runtime does, so a
text model exports as two files that run with ``onnxruntime`` and the ``tokenizers`` package
alone (no recycle, no torch, no zoo):

- ``NAME.onnx``: inputs ``input_ids`` and ``attention_mask`` (int64 ``[N, T]``, exactly what the
  tokenizer gives), output ``probabilities`` ``[N, C]``; each source's encoder, its mean pooling
  over the attention mask and the strategy's head are in the graph. Metadata as for every
  export (``classes``, ``recycle``), plus ``recycle.schema.tokenizer``: the JSON file's name.
- ``NAME.tokenizer.json``: the sources' tokenizer with recycle's truncation and padding
  settings inside, so ``Tokenizer.from_file`` needs no further set-up.

How to run it: :data:`REFERENCE_SNIPPET` (shown in ``docs/deploy.md``; the tests run it in a
process that cannot import recycle or torch).

Exportable: ONNX sentence encoders (``minilm_l6.onnx``, ``paraphrase_minilm_l3.onnx``, or any
:class:`~recycle.sources.onnx_source.OnnxSource` on ``text:minilm``), all sharing one
tokenizer, under a head that reads only the sources' features (linear_probe, averaging,
stacking, mcw). Anything else raises :class:`~recycle.errors.IncompatibleError` naming it.

Examples
--------
>>> tokenizer_file("out/model.onnx").name
'model.tokenizer.json'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, version_converter

from recycle.errors import IncompatibleError
from recycle.sources import preprocess as pp

#: The graph inputs of a text export, in the tokenizer's names.
TEXT_INPUTS = ("input_ids", "attention_mask")
#: How to run a text export with onnxruntime and tokenizers alone, given ``texts`` (a list of
#: str) and the two files as ``model.onnx`` and ``model.tokenizer.json``.
REFERENCE_SNIPPET = """\
import json, numpy as np, onnxruntime as ort
from tokenizers import Tokenizer

tok = Tokenizer.from_file("model.tokenizer.json")
sess = ort.InferenceSession("model.onnx")
enc = tok.encode_batch(texts)
feeds = {"input_ids": np.array([e.ids for e in enc], np.int64),
         "attention_mask": np.array([e.attention_mask for e in enc], np.int64)}
proba = sess.run(["probabilities"], feeds)[0]  # [len(texts), n_classes]
classes = json.loads(sess.get_modelmeta().custom_metadata_map["classes"])
"""
#: Floor of the token count in mean pooling (as :class:`~recycle.sources.onnx_source.OnnxSource`).
MIN_TOKENS = 1e-9


def tokenizer_file(onnx_path: str | Path) -> Path:
    """The tokenizer JSON written beside ``onnx_path`` (``m.onnx`` -> ``m.tokenizer.json``)."""
    path = Path(onnx_path)
    return path.with_name(f"{path.stem}.tokenizer.json")


def tokenizer_json(sources: list[Any]) -> tuple[str, str]:
    """``(preprocess id, tokenizer JSON)`` shared by all ``sources``; IncompatibleError when
    they tokenize differently or not with a tokenizer this module knows."""
    ids = {getattr(s, "preprocess_id", None) for s in sources}
    if len(ids) != 1:
        raise IncompatibleError(
            f"the sources tokenize differently ({', '.join(sorted(map(str, ids)))}); a text "
            "export takes one tokenizer: refit on sources that share it"
        )
    pid = str(next(iter(ids)))
    base, params = pp.parse_id(pid)
    if base != "text:minilm":
        raise IncompatibleError(f"text preprocessing {pid!r} has no tokenizer JSON to export")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(pp.minilm_tokenizer_path())
    tok.enable_truncation(max_length=int(params.get("max_length", 256)))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # as recycle's own preprocessing
    return pid, tok.to_str()


def _pooled(model: onnx.ModelProto, hidden: str, pooling: str) -> onnx.ModelProto:
    """``model`` with one output ``features``: ``hidden`` mean-pooled over the attention mask
    (or as is for ``pooling="none"``); ``token_type_ids``, if it reads them, become zeros."""
    graph = model.graph
    if any(i.name == "token_type_ids" for i in graph.input):
        graph.initializer.append(numpy_helper.from_array(np.zeros((), np.int64), "pool/zero"))
        first = helper.make_node("Mul", ["input_ids", "pool/zero"], ["token_type_ids"])
        kept = [i for i in graph.input if i.name != "token_type_ids"]
        del graph.input[:]
        graph.input.extend(kept)
        graph.node.insert(0, first)
    nodes = []
    if pooling == "none":
        nodes.append(helper.make_node("Identity", [hidden], ["features"]))
    else:
        for name, value in (("pool/axis", [1]), ("pool/last", [-1])):
            graph.initializer.append(numpy_helper.from_array(np.asarray(value, np.int64), name))
        graph.initializer.append(
            numpy_helper.from_array(np.asarray(MIN_TOKENS, np.float32), "pool/floor")
        )
        nodes += [
            helper.make_node("Cast", ["attention_mask"], ["pool/mask"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["pool/mask", "pool/last"], ["pool/mask3"]),
            helper.make_node("Mul", [hidden, "pool/mask3"], ["pool/masked"]),
            helper.make_node("ReduceSum", ["pool/masked", "pool/axis"], ["pool/sum"], keepdims=0),
            helper.make_node("ReduceSum", ["pool/mask", "pool/axis"], ["pool/n"], keepdims=1),
            helper.make_node("Max", ["pool/n", "pool/floor"], ["pool/count"]),
            helper.make_node("Div", ["pool/sum", "pool/count"], ["features"]),
        ]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", None]))
    return model


def text_source_part(source: Any, opset: int) -> tuple[onnx.ModelProto, str]:
    """``(model, "features")``: one ONNX text source from token ids to its pooled features,
    converted to ``opset``; IncompatibleError for a source that is not an ONNX encoder."""
    if not hasattr(source, "model_bytes") or not hasattr(source, "pooling"):
        kind = type(source).__name__
        raise IncompatibleError(
            f"text source {source.source_id!r} ({kind}) is not an ONNX encoder; the text "
            "export takes ONNX sentence encoders (e.g. minilm_l6.onnx)"
        )
    model = onnx.load_from_string(source.model_bytes())
    names = {i.name for i in model.graph.input}
    if not names <= {*TEXT_INPUTS, "token_type_ids"}:
        raise IncompatibleError(
            f"text source {source.source_id!r} reads inputs {sorted(names)}; exportable "
            f"encoders read {', '.join(TEXT_INPUTS)} (and token_type_ids)"
        )
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    if version < opset:
        model = version_converter.convert_version(model, opset)
    return _pooled(model, source.output, source.pooling), "features"


def text_feeds(tokenizer: Any, texts: list[str]) -> dict[str, np.ndarray]:
    """The graph inputs for ``texts``, tokenized by a ``tokenizers.Tokenizer`` loaded from the
    exported JSON (what the module docstring's snippet does)."""
    enc = tokenizer.encode_batch(list(texts))
    return {
        "input_ids": np.array([e.ids for e in enc], np.int64),
        "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
    }


def graph_inputs() -> list[onnx.ValueInfoProto]:
    """The text export's graph inputs (see :data:`TEXT_INPUTS`)."""
    return [helper.make_tensor_value_info(n, TensorProto.INT64, ["n", "t"]) for n in TEXT_INPUTS]
