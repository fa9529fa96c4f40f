"""`robalign chat`: talk to a model (+ LoRA adapter) in the terminal, or pipe lines through it.

Each input line is a user turn; the reply is printed as ``assistant: ...``. The conversation
is kept (multi-turn, in the model's chat template) until ``/reset``; ``/quit`` or end of input
ends it. Greedy by default. The HF engine is the default here (it starts in seconds; vLLM's
~40 s start pays off only for batches).
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
    from robalign.config.schema import from_dict
    from robalign.eval.adapters import check_adapter
    from robalign.eval.engines import EngineArgs, make_engine
    from robalign.eval.prompts import decode
    from robalign.eval.sampling import SamplingArgs

    sampling = from_dict(SamplingArgs, {"temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_tokens, "seed": args.seed}, "command line", "")
    if args.adapter:
        check_adapter(args.adapter, args.model)
    engine = make_engine(args.model, EngineArgs(backend=args.engine), [args.adapter] if args.adapter else [])
    interactive = sys.stdin.isatty()
    start = [{"role": "system", "content": args.system}] if args.system else []
    messages = list(start)
    if interactive:
        print("robalign chat: type a message; /reset clears the conversation, /quit or Ctrl-D ends.", file=sys.stderr)
    try:
        while True:
            if interactive:
                print("you: ", end="", flush=True, file=sys.stderr)
            line = sys.stdin.readline()
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
            messages.append({"role": "user", "content": text})
            ids = engine.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            ids = engine.tokenizer(ids, add_special_tokens=False)["input_ids"]
            reply = decode(engine.tokenizer, engine.generate([ids], sampling, adapter=args.adapter)[0][0])
            messages.append({"role": "assistant", "content": reply})
            print(f"assistant: {reply}", flush=True)
    finally:
        engine.close()
    return 0
