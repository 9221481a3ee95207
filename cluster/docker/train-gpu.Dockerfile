# docker build -f cluster/docker/train-gpu.Dockerfile -t YOUR_REGISTRY/luxit-ray-train-gpu:2.60.0-py311-gpu .
# gpu-train role: LoRA sweeps with bf16, 8-bit AdamW (bitsandbytes) and DeepSpeed (extra train-gpu).
FROM rayproject/ray:2.60.0-py311-gpu
COPY --chown=ray:users . /home/ray/luxit-ray
# torch is pinned first (a CUDA build from the image's index) so the extras never swap it.
RUN pip install -q 'torch==2.13.0' \
 && pip install -q -e '/home/ray/luxit-ray[train-gpu]' \
 && python -c "import bitsandbytes, deepspeed"
WORKDIR /home/ray/luxit-ray
