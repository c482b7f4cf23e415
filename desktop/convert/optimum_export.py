"""Any other decoder architecture: export with optimum (``text-generation-with-past``), then
optionally quantize its MatMuls with ONNX Runtime's ``MatMulNBitsQuantizer``.

Needs the optional extra ``convert`` (optimum-onnx, transformers, torch). The export loads the
checkpoint with transformers from ``*.safetensors`` only and never with remote code; the
folder is checked for both before transformers is even imported.

The bundle is a standard optimum graph (``position_ids``, ``attention_mask``, concatenated KV)
that the engine's ``ConcatKVDecoder`` runs.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from desktop.convert.errors import ConversionError, UnsupportedModelError
from desktop.convert.gguf_to_onnx import (
    CONVERTER_VERSION,
    Progress,
    _match_umask,
    _no_progress,
    _write_json,
)
from desktop.convert.safetensors_source import (
    PRECISIONS,
    Precision,
    _sha256_files,
    copy_tokenizer_files,
    read_config,
    refuse_code_and_pickles,
)
from desktop.convert.validate import validate_bundle
from desktop.engine.session import first_line

F32 = npt.NDArray[np.float32]
GRAPH = "optimum-text-generation-with-past"
BLOCK = 32
INSTALL_HINT = "pip install 'parley-desktop[convert]'"


def optimum_available() -> str | None:
    """None when the export can run, else why not (one line)."""
    try:
        import optimum.exporters.onnx  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        return (
            f"optimum export needs the optional 'convert' extra ({exc.name} is missing): "
            + INSTALL_HINT
        )
    return None


def _export(folder: Path, out: Path) -> Path:
    import warnings

    from optimum.exporters.onnx import main_export

    try:
        with warnings.catch_warnings():
            # torch's tracer warns about every data-dependent branch it freezes; the export is
            # checked afterwards by running it (validate_bundle), not by these warnings.
            warnings.simplefilter("ignore")
            main_export(
                str(folder),
                output=str(out),
                task="text-generation-with-past",
                local_files_only=True,
                trust_remote_code=False,
                do_validation=False,
                model_kwargs={"use_safetensors": True},
            )
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        # optimum/transformers raise these for architectures or configs they cannot export.
        why = first_line(exc)
        raise UnsupportedModelError(f"optimum could not export {folder.name}: {why}") from exc
    found = sorted(out.glob("*.onnx"))
    if not found:
        raise ConversionError(f"optimum exported no ONNX model for {folder.name}")
    return found[0]


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite ``Gemm`` nodes with a constant weight (GPT-2's Conv1D layers export as Gemm) as
    ``MatMul`` + ``Add``, the form ONNX Runtime's weight-only quantizer handles. Returns how
    many were rewritten."""
    from onnx import helper, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = (
            node.op_type == "Gemm"
            and len(node.input) >= 2
            and node.input[1] in inits
            and attrs.get("transA", 0) == 0
            and float(attrs.get("alpha", 1.0)) == 1.0
            and float(attrs.get("beta", 1.0)) == 1.0
        )
        if not plain:
            nodes.append(node)
            continue
        weight = node.input[1]
        if attrs.get("transB", 0):
            w = numpy_helper.to_array(inits[weight]).T
            weight = weight + "_t"
            model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w), weight))
        has_bias = len(node.input) > 2 and node.input[2] != ""
        mm_out = node.output[0] + "_matmul" if has_bias else node.output[0]
        nodes.append(
            helper.make_node("MatMul", [node.input[0], weight], [mm_out], node.name + "_mm")
        )
        if has_bias:
            nodes.append(
                helper.make_node(
                    "Add", [mm_out, node.input[2]], [node.output[0]], node.name + "_bias"
                )
            )
        rewritten += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return rewritten


def _quantize(model_path: Path, dest: Path, bits: int) -> None:
    import logging

    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    # The quantizer logs every node it skips at INFO level.
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    model = onnx.load(str(model_path))
    gemm_to_matmul(model)
    quantizer = MatMulNBitsQuantizer(
        model, bits=bits, block_size=BLOCK, is_symmetric=bits == 8, accuracy_level=4
    )
    quantizer.process()
    onnx.save_model(
        quantizer.model.model,
        str(dest),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=dest.name + ".data",
        size_threshold=1024,
    )


def full_logits(model_path: Path, ids: list[int]) -> F32:
    """All positions' logits of an optimum decoder in one pass from an empty cache."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feed: dict[str, Any] = {}
    n = len(ids)
    for inp in session.get_inputs():
        if inp.name == "input_ids":
            feed[inp.name] = np.asarray([ids], np.int64)
        elif inp.name == "attention_mask":
            feed[inp.name] = np.ones((1, n), np.int64)
        elif inp.name == "position_ids":
            feed[inp.name] = np.arange(n, dtype=np.int64)[None]
        elif inp.name.startswith("past_key_values"):
            shape = [1 if i == 0 else 0 if i == 2 else d for i, d in enumerate(inp.shape)]
            dtype = np.float16 if "float16" in inp.type else np.float32
            feed[inp.name] = np.zeros(shape, dtype)
    logits = session.run(["logits"], feed)[0]
    out: F32 = logits[0].astype(np.float32)
    return out


def export_checkpoint(
    folder: Path,
    dest: Path,
    *,
    precision: Precision = "int4",
    name: str | None = None,
    progress: Progress = _no_progress,
) -> Path:
    """Export the checkpoint ``folder`` through optimum into the bundle ``dest``.

    Stages: read, build (the export), quantize, write, validate. Atomic like every import.
    """
    if precision not in PRECISIONS:
        raise ConversionError(f"precision '{precision}' is unknown (use {', '.join(PRECISIONS)})")
    if dest.exists():
        raise ConversionError(f"{dest} already exists")
    progress("read", 0.0)
    config = read_config(folder)
    files = refuse_code_and_pickles(folder, config)
    missing = optimum_available()
    if missing is not None:
        raise ConversionError(
            f"'{config.get('model_type', '?')}' models are converted through optimum; {missing}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        sha = _sha256_files(files, progress)
        progress("build", 0.0)
        exported = _export(folder, tmp / "export")
        progress("build", 1.0)
        if precision == "fp32":
            for f in (tmp / "export").iterdir():
                if f.suffix in (".onnx", ".onnx_data", ".data") or f.name.endswith(".onnx.data"):
                    shutil.move(str(f), tmp / f.name)
            model_file = tmp / exported.name
        else:
            progress("quantize", 0.0)
            model_file = tmp / "model.onnx"
            _quantize(exported, model_file, 4 if precision == "int4" else 8)
            progress("quantize", 1.0)
        progress("write", 0.0)
        if model_file.name != "model.onnx":
            raise ConversionError(f"optimum wrote {model_file.name}, expected model.onnx")
        copy_tokenizer_files(folder, tmp)
        export_config = tmp / "export" / "config.json"
        shutil.copyfile(
            export_config if export_config.is_file() else folder / "config.json",
            tmp / "config.json",
        )
        if not (tmp / "generation_config.json").is_file():
            gen = tmp / "export" / "generation_config.json"
            if gen.is_file():
                shutil.copyfile(gen, tmp / "generation_config.json")
        manifest: dict[str, Any] = {
            "name": name or dest.name,
            "display_name": folder.name,
            "family": str(config.get("model_type", "unknown")),
            "source": {
                "kind": "safetensors",
                "file": folder.name,
                "files": [f.name for f in files],
                "sha256": sha,
                "dtype": str(config.get("torch_dtype", "unknown")),
                "exporter": "optimum",
            },
            "precision": precision,
            "quantization": {
                "linear": "fp32"
                if precision == "fp32"
                else f"{4 if precision == 'int4' else 8}-bit MatMulNBits block {BLOCK} "
                "(ONNX Runtime quantizer)",
            },
            "graph": GRAPH,
            "converter_version": CONVERTER_VERSION,
            "license": str(config.get("license", "unknown")),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        _write_json(tmp / "parley.json", manifest)
        progress("write", 1.0)
        reference = None
        if precision != "fp32":
            reference = lambda ids: full_logits(exported, ids)  # noqa: E731
        accuracy = validate_bundle(
            tmp, reference, "the same export in fp32 (ONNX Runtime)", progress
        )
        if accuracy is not None:
            manifest["accuracy"] = accuracy.to_json()
            _write_json(tmp / "parley.json", manifest)
        shutil.rmtree(tmp / "export")
        _match_umask(tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConversionError(
            f"could not write the model to {dest.parent}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
