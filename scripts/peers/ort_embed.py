#!/usr/bin/env python3
"""ONNX Runtime as a peer: all-MiniLM-L6-v2 as an ONNX graph (fp32 and dynamic int8), embedded the
way a careful ORT user does it: Hugging Face `tokenizers`, texts sorted by length, batches of 8
padded to the batch's longest, mean pooling + L2 normalisation, N intra-op threads.

Usage:
  ort_embed.py build HF_DIR OUT_DIR
      Writes OUT_DIR/minilm.fp32.onnx (the BERT graph, built with the `onnx` package straight from
      HF_DIR/model.safetensors: embeddings, 6 post-norm encoder layers with exact-erf GELU, masked
      mean pooling, L2) and OUT_DIR/minilm.int8.onnx
      (onnxruntime.quantization.quantize_dynamic, QInt8 weights per channel, the 36 weight MatMuls; see
      build()), OUT_DIR/minilm.int8-defaults.onnx (quantize_dynamic's defaults), and copies
      HF_DIR/tokenizer.json to OUT_DIR.
  ort_embed.py embed MODEL.onnx TOKENIZER.json WORKLOAD.jsonl THREADS [--max-len N] [--batch B] [--out OUT.jsonl]
      Embeds the JSONL's "text" fields; prints one JSON line {"texts", "tokens", "seconds_load",
      "seconds_embed"}; --out writes {"index", "embedding"} lines in input order.
  ort_embed.py check MODEL.onnx TOKENIZER.json REFERENCE.jsonl THREADS [--max-len 256]
      Cosine of each dev text's embedding vs the reference's embedding_256 (texts whose
      Hugging Face ids differ from the reference's `ids` are reported); prints mean / p1 / min.

The graph's inputs are input_ids and attention_mask (int64, [batch, seq]); token type ids are all
0, as sentence-transformers passes them for one segment. Output: "embedding" [batch, 384].
"""
import json
import sys
import time

import numpy as np


def _args(argv, flags):
    pos, opts, i = [], dict(flags), 0
    while i < len(argv):
        if argv[i].startswith("--"):
            key = argv[i][2:].replace("-", "_")
            if key not in opts:
                sys.exit(f"unknown option {argv[i]}")
            opts[key] = argv[i + 1]
            i += 2
        else:
            pos.append(argv[i])
            i += 1
    return pos, opts


def build(hf_dir: str, out_dir: str) -> None:
    import os
    import shutil

    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    w = load_file(os.path.join(hf_dir, "model.safetensors"))
    w = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in w.items()}
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    assert cfg.get("hidden_act", "gelu") == "gelu"

    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(arr, prefix="c"):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def node(op, inputs, prefix=None, **attrs):
        out = name(prefix or op.lower())
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def linear(x, prefix):
        # HF stores [out, in]; MatMul wants [in, out] (what torch's export writes too).
        wt = const(np.ascontiguousarray(w[prefix + ".weight"].T), prefix + ".weight")
        b = const(w[prefix + ".bias"], prefix + ".bias")
        return node("Add", [node("MatMul", [x, wt]), b])

    def layer_norm(x, prefix):
        g = const(w[prefix + ".weight"], prefix + ".weight")
        b = const(w[prefix + ".bias"], prefix + ".bias")
        return node("LayerNormalization", [x, g, b], axis=-1, epsilon=eps)

    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])

    # Embeddings: word + position[0..seq) + token type 0, LayerNorm.
    word = const(w["embeddings.word_embeddings.weight"], "word_embeddings")
    pos_table = const(w["embeddings.position_embeddings.weight"], "position_embeddings")
    tt0 = const(w["embeddings.token_type_embeddings.weight"][0], "token_type_0")
    x = node("Gather", [word, "input_ids"], axis=0)
    shape = node("Shape", ["input_ids"])
    seq = node("Gather", [shape, const(np.array(1, dtype=np.int64))], axis=0)
    positions = node("Range", [const(np.array(0, dtype=np.int64)), seq, const(np.array(1, dtype=np.int64))])
    x = node("Add", [x, node("Gather", [pos_table, positions], axis=0)])
    x = node("Add", [x, tt0])
    x = layer_norm(x, "embeddings.LayerNorm")

    # Additive attention mask [batch, 1, 1, seq]: 0 where attended, -10000 elsewhere (BERT's).
    maskf = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    ext = node("Unsqueeze", [maskf, const(np.array([1, 2], dtype=np.int64))])
    bias = node("Mul", [node("Sub", [const(np.array(1.0, dtype=np.float32)), ext]),
                        const(np.array(-10000.0, dtype=np.float32))])
    split_shape = const(np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_shape = const(np.array([0, 0, hidden], dtype=np.int64))

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        q = node("Transpose", [node("Reshape", [linear(x, p + ".attention.self.query"), split_shape])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, p + ".attention.self.key"), split_shape])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, p + ".attention.self.value"), split_shape])], perm=[0, 2, 1, 3])
        scores = node("Add", [node("Div", [node("MatMul", [q, k]), const(np.array(np.sqrt(head_dim), dtype=np.float32))]), bias])
        probs = node("Softmax", [scores], axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]), merge_shape])
        attn = linear(ctx, p + ".attention.output.dense")
        x = layer_norm(node("Add", [attn, x]), p + ".attention.output.LayerNorm")
        h = linear(x, p + ".intermediate.dense")
        # Exact GELU, the pattern torch exports and ORT fuses: x * 0.5 * (1 + erf(x / sqrt 2)).
        erf = node("Erf", [node("Div", [h, const(np.array(np.sqrt(2.0), dtype=np.float32))])])
        h = node("Mul", [node("Mul", [h, node("Add", [erf, const(np.array(1.0, dtype=np.float32))])]),
                         const(np.array(0.5, dtype=np.float32))])
        h = linear(h, p + ".output.dense")
        x = layer_norm(node("Add", [h, x]), p + ".output.LayerNorm")

    # Masked mean pooling + L2 normalisation (sentence-transformers' Pooling + Normalize).
    m3 = node("Unsqueeze", [maskf, const(np.array([2], dtype=np.int64))])
    summed = node("ReduceSum", [node("Mul", [x, m3]), const(np.array([1], dtype=np.int64))], keepdims=0)
    count = node("Max", [node("ReduceSum", [maskf, const(np.array([1], dtype=np.int64))], keepdims=1),
                         const(np.array(1e-9, dtype=np.float32))])
    mean = node("Div", [summed, count])
    norm = node("Max", [node("ReduceL2", [mean], axes=[1], keepdims=1),
                        const(np.array(1e-12, dtype=np.float32))])
    nodes.append(helper.make_node("Div", [mean, norm], ["embedding"]))

    graph = helper.make_graph(nodes, "all-MiniLM-L6-v2", [ids, mask], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="ggufembed scripts/peers/ort_embed.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(out_dir, exist_ok=True)
    fp32 = os.path.join(out_dir, "minilm.fp32.onnx")
    int8 = os.path.join(out_dir, "minilm.int8.onnx")
    onnx.save(model, fp32)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The 36 weight matmuls, weights int8 per output channel, activations uint8 per tensor
    # (computed at run time). quantize_dynamic's defaults (per-tensor weights; also the
    # activation x activation matmuls Q.K^T and P.V and the embedding Gather) cost MiniLM a
    # mean cosine of 0.956, min 0.82, vs sentence-transformers, and per-tensor weights alone
    # about the same (0.956 / 0.81): MiniLM's weight outliers need per-channel scales. The
    # defaults' file is written too, as minilm.int8-defaults.onnx, for the record.
    weights = {i.name for i in inits}
    act_mm = [n.name for n in nodes if n.op_type == "MatMul" and not any(x in weights for x in n.input)]
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=act_mm)
    quantize_dynamic(fp32, os.path.join(out_dir, "minilm.int8-defaults.onnx"), weight_type=QuantType.QInt8)
    shutil.copy(os.path.join(hf_dir, "tokenizer.json"), os.path.join(out_dir, "tokenizer.json"))
    print(f"wrote {fp32}, {int8}")


def session(model_path: str, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])


def tokenizer(path: str, max_len: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.enable_truncation(max_len)
    return tok


def embed_texts(sess, tok, texts, batch: int):
    encs = tok.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
    out = np.zeros((len(texts), sess.get_outputs()[0].shape[1] or 384), dtype=np.float32)
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        n = max(len(encs[i].ids) for i in idx)
        ids = np.zeros((len(idx), n), dtype=np.int64)
        mask = np.zeros((len(idx), n), dtype=np.int64)
        for r, i in enumerate(idx):
            e = encs[i].ids
            ids[r, :len(e)] = e
            mask[r, :len(e)] = 1
        out[idx] = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    return out, sum(len(e.ids) for e in encs), encs


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "build":
        build(argv[0], argv[1])
    elif cmd == "embed":
        pos, o = _args(argv, {"max_len": "512", "batch": "8", "out": ""})
        model, tokp, workload, threads = pos[0], pos[1], pos[2], int(pos[3])
        texts = [json.loads(line)["text"] for line in open(workload, encoding="utf-8") if line.strip()]
        t0 = time.perf_counter()
        sess = session(model, threads)
        tok = tokenizer(tokp, int(o["max_len"]))
        t1 = time.perf_counter()
        vecs, tokens, _ = embed_texts(sess, tok, texts, int(o["batch"]))
        t2 = time.perf_counter()
        if o["out"]:
            with open(o["out"], "w") as f:
                for i, v in enumerate(vecs):
                    f.write(json.dumps({"index": i, "embedding": [float(x) for x in v]}) + "\n")
        print(json.dumps({"texts": len(texts), "tokens": tokens, "seconds_load": t1 - t0,
                          "seconds_embed": t2 - t1}))
    elif cmd == "check":
        pos, o = _args(argv, {"max_len": "256", "batch": "8"})
        model, tokp, ref, threads = pos[0], pos[1], pos[2], int(pos[3])
        rows = [json.loads(line) for line in open(ref, encoding="utf-8") if line.strip()]
        sess = session(model, threads)
        tok = tokenizer(tokp, int(o["max_len"]))
        vecs, _, encs = embed_texts(sess, tok, [r["text"] for r in rows], int(o["batch"]))
        ml = int(o["max_len"])
        cos, differ = [], 0
        for r, v, e in zip(rows, vecs, encs):
            ref_ids = r["ids"] if len(r["ids"]) <= ml else r["ids"][:ml - 1] + [r["ids"][-1]]
            differ += list(e.ids) != ref_ids
            ref_v = np.asarray(r["embedding_256"], dtype=np.float64)
            cos.append(float(np.dot(v, ref_v) / (np.linalg.norm(v) * np.linalg.norm(ref_v))))
        c = np.array(cos)
        print(json.dumps({"texts": len(c), "ids_differ": differ, "mean": float(c.mean()),
                          "p1": float(np.percentile(c, 1)), "min": float(c.min()),
                          "worst_index": int(c.argmin())}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
