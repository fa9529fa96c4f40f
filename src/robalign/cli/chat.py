"""`robalign chat`: talk to a model (+ LoRA adapter) in the terminal, or pipe lines through it.

Each input line is a user turn; the reply is printed as ``assistant: ...``. The conversation
is kept (multi-turn, in the model's chat template) until ``/reset``; ``/quit`` or end of input
ends it. Greedy by default. The HF engine is the default here (it starts in seconds; vLLM's
~40 s start pays off only for batches).

A conversation that outgrows the model's context (with --max-tokens for the reply) is the
shared one-line length error: piped input stops there (exit 2, like any bad input), while at
a terminal the message is dropped and the chat goes on, since /reset or a shorter message fixes it.
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("chat", help="interactive chat with a model and optional LoRA adapter (reads stdin)")
    p.add_argument("--model", required=True, help="base model directory or hub id")
    p.add_argument("--adapter", default=None, help="LoRA adapter directory")
    p.add_argument("--engine", choices=["hf", "vllm"], default="hf")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--system", default=None, help="system message at the start of the conversation")
    p.set_defaults(func=run)


def run(args) -> int:
    from dataclasses import replace

    from robalign.config.schema import from_dict
    from robalign.errors import UserError
    from robalign.models.adapters import check_adapter
    from robalign.eval.engines import EngineArgs, make_engine
    from robalign.models.context import context_limit
    from robalign.models.chat import chat_text, decode
    from robalign.eval.sampling import SamplingArgs

    from robalign.sources import check_model_source

    check_model_source(args.model)
    sampling = from_dict(SamplingArgs, {"temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_tokens, "seed": args.seed}, "command line", "")
    if args.adapter:
        check_adapter(args.adapter, args.model)
    limit = context_limit(args.model, None, args.max_tokens, tokens_option="--max-tokens", len_option=None)
    if limit is not None:  # --max-tokens beyond the context fails before the engine starts
        limit = replace(limit, fix="send a shorter message, /reset the conversation or lower --max-tokens")
        limit.check_reserve()
    engine = make_engine(args.model, EngineArgs(backend=args.engine), [args.adapter] if args.adapter else [])
    interactive = sys.stdin.isatty()
    start = [{"role": "system", "content": args.system}] if args.system else []
    messages, n_sent = list(start), 0
    if interactive:
        print("robalign chat: type a message; /reset clears the conversation, /quit or Ctrl-D ends.", file=sys.stderr)
    try:
        while True:
            if interactive:
                print("you: ", end="", flush=True, file=sys.stderr)
            try:
                line = sys.stdin.readline()
                line.encode("utf-8")  # a non-UTF-8 stdin is decoded with surrogate escapes: refuse them here
            except (UnicodeDecodeError, UnicodeEncodeError):
                err = UserError(f"stdin: message {n_sent + 1} is not UTF-8 text")
                if not interactive:
                    raise err from None
                print(f"error: {err}", file=sys.stderr, flush=True)
                continue
            if not line:
                break
            text = line.rstrip("\n")
            if text.strip() == "/quit":
                break
            if text.strip() == "/reset":
                messages = list(start)
                print("(conversation cleared)", flush=True)
                continue
            if not text.strip():
                continue
            n_sent += 1
            try:
                prompt = chat_text(engine.tokenizer, [*messages, {"role": "user", "content": text}])  # a refused --system is one line
                ids = _checked_ids(engine.tokenizer, prompt, limit, f"the conversation with message {n_sent}")
            except UserError as err:
                if not interactive:
                    raise
                print(f"error: {err}", file=sys.stderr, flush=True)
                continue
            messages.append({"role": "user", "content": text})
            reply = decode(engine.tokenizer, engine.generate([ids], sampling, adapter=args.adapter)[0][0])
            messages.append({"role": "assistant", "content": reply})
            print(f"assistant: {reply}", flush=True)
    finally:
        engine.close()
    return 0


def _checked_ids(tokenizer, prompt: str, limit, what: str) -> list[int]:
    """The templated conversation's ids, after the shared length check (megabyte lines are
    refused on their characters, before tokenising)."""
    if limit is not None:
        limit.check_texts(tokenizer, [prompt], lambda _: what)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if limit is not None:
        limit.check_ids([ids], lambda _: what)
    return ids
