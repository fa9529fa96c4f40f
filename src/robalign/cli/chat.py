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

from robalign.cli.generate import ENGINE_FLAGS, SAMPLING_FLAGS

# Greedy replies of up to 128 tokens on the HF engine (module docstring); no -n: one reply a turn.
CHAT_SAMPLING = SAMPLING_FLAGS.but(fields=("temperature", "top_p", "max_tokens", "seed"), defaults={"max_tokens": 128})
CHAT_ENGINE = ENGINE_FLAGS.but(fields=("backend",), defaults={"backend": "hf"})


def register(sub) -> None:
    p = sub.add_parser("chat", help="interactive chat with a model and optional LoRA adapter (reads stdin)")
    p.add_argument("--model", required=True, help="base model directory or hub id")
    p.add_argument("--adapter", default=None, help="LoRA adapter directory")
    p.add_argument("--system", default=None, help="system message at the start of the conversation")
    CHAT_SAMPLING.add_to(p, "sampling")
    CHAT_ENGINE.add_to(p, "engine")
    p.set_defaults(func=run)


def run(args) -> int:
    from dataclasses import replace

    from robalign.errors import UserError
    from robalign.models.adapters import check_adapter
    from robalign.eval.engines import make_engine
    from robalign.models.context import context_limit
    from robalign.models.chat import chat_text, decode

    from robalign.sources import check_model_source

    check_model_source(args.model)
    sampling = CHAT_SAMPLING.build(args)
    if args.adapter:
        check_adapter(args.adapter, args.model)
    limit = context_limit(args.model, None, args.max_tokens, tokens_option="--max-tokens", len_option=None)
    if limit is not None:  # --max-tokens beyond the context fails before the engine starts
        limit = replace(limit, fix="send a shorter message, /reset the conversation or lower --max-tokens")
        limit.check_reserve()
    engine = make_engine(args.model, CHAT_ENGINE.build(args), [args.adapter] if args.adapter else [])
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
