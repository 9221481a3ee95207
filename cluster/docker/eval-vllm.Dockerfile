# docker build -f cluster/docker/eval-vllm.Dockerfile -t YOUR_REGISTRY/luxit-ray-eval-vllm:2.60.0-py311-cu128 .
# gpu-eval role: the exam harness with vLLM. vLLM pins its own torch and transformers, so this role
# never shares an environment with train-gpu: the project installs under constraints that keep the
# ray-llm image's torch / transformers / vllm (a conflict fails the build, not an evaluation).
FROM rayproject/ray-llm:2.60.0-py311-cu128
COPY --chown=ray:users . /home/ray/luxit-ray
RUN pip freeze | grep -iE '^(torch|transformers|vllm|triton)==' > /tmp/pins.txt \
 && pip install -q -c /tmp/pins.txt -e '/home/ray/luxit-ray[eval-vllm]' \
 && python -c "import vllm, peft, luxit_ray.evaluate.backends"
WORKDIR /home/ray/luxit-ray
