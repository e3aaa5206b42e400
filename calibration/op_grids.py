"""The grid of shapes over which calibration/bench_layer_ops.py times each op (the axes of the
op tables that calibration/assemble_ops.py writes), in the order the ops are measured. Plain
Python (no PyTorch), so the assembler runs anywhere."""

TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536]
GRIDS = {
    "gemm": {"M": [1, 2, 4, 8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096, 8192, 16384],
             "N": [8, 64, 256, 512, 1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 32768],
             "K": [128, 512, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384]},
    "gemm_fp8": {"M": [1, 4, 16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
                 "N": [64, 256, 1024, 2048, 4096, 8192, 16384, 32768],
                 "K": [512, 1024, 2048, 4096, 8192, 16384]},
    "attn_prefill": {"seq": [128, 256, 512, 1024, 2048, 4096, 8192, 16384], "heads": [4, 8, 16, 32, 64, 128],
                     "head_dim": [64, 128]},
    "attn_prefill_mla": {"seq": [128, 256, 512, 1024, 2048, 4096, 8192, 16384], "heads": [8, 16, 32, 64, 128]},
    "attn_decode": {"batch": [1, 4, 16, 64, 256], "context": [256, 1024, 4096, 16384], "kv_heads": [1, 2, 4, 8],
                    "group": [1, 2, 4, 8, 16]},
    "attn_decode_mla": {"batch": [1, 4, 16, 64, 256], "context": [256, 1024, 4096, 16384], "heads": [16, 32, 64, 128]},
    "mla_absorb": {"tokens": [1, 4, 16, 64, 256, 1024, 4096, 16384], "heads": [16, 32, 64, 128]},
    "rms_norm": {"rows": TOKENS, "width": [128, 512, 2048, 4096, 8192]},
    "add": {"rows": TOKENS, "width": [512, 2048, 4096, 8192]},
    "silu_mul": {"rows": TOKENS, "width": [128, 512, 1024, 2048, 4096, 8192, 16384]},
    "rope": {"tokens": TOKENS, "heads": [1, 4, 8, 16, 32, 64, 128], "rot_dim": [64, 128]},
    "quant_fp8": {"rows": TOKENS, "width": [512, 2048, 4096, 8192]},
    "topk_softmax": {"tokens": TOKENS, "experts": [8, 16, 32, 64, 128, 256], "top_k": [2, 4, 8]},
    "topk_sigmoid_grouped": {"tokens": TOKENS, "experts": [64, 128, 256], "top_k": [8]},
    "permute": {"tokens": TOKENS, "top_k": [1, 2, 4, 8], "width": [1024, 2048, 4096, 8192]},
    "unpermute": {"tokens": TOKENS, "top_k": [1, 2, 4, 8], "width": [1024, 2048, 4096, 8192]},
}
ORDER = ["gemm", "rms_norm", "add", "silu_mul", "rope", "topk_softmax", "topk_sigmoid_grouped", "permute", "unpermute",
         "attn_prefill", "attn_prefill_mla", "attn_decode", "attn_decode_mla", "mla_absorb", "quant_fp8", "gemm_fp8"]
assert sorted(ORDER) == sorted(GRIDS)
