"""``python -m promptq.sim``: run the provider simulator.

Options override the ``PROMPTQ_SIM_*`` environment variables.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .config import SimConfig, parse_error_rules, parse_fault_rates
from .server import serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m promptq.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--ttft", type=float, dest="ttft_s", help="time to first token, seconds")
    parser.add_argument("--tps", type=float, dest="tokens_per_s", help="output tokens per second (0 = instant)")
    parser.add_argument(
        "--faults", type=parse_fault_rates, dest="fault_rates", help="e.g. overloaded=0.2,rate_limit=0.1"
    )
    parser.add_argument("--rpm", type=int, help="requests per minute per model")
    parser.add_argument("--input-tpm", type=int, dest="input_tpm", help="input tokens per minute per model")
    parser.add_argument("--output-tpm", type=int, dest="output_tpm", help="output tokens per minute per model")
    parser.add_argument("--retry-after", type=float, dest="retry_after_s", help="seconds advertised by injected 429s")
    parser.add_argument("--stall", type=float, dest="stall_s", help="seconds a timeout fault stalls")
    parser.add_argument("--context-window", type=int, dest="context_window", help="tokens")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--error-rates", type=parse_error_rules, dest="error_rates",
        help='field error rates: a JSON list of {"model", "prompt_version", "field", "error_rate"}, or none',
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    overrides = {
        key: value for key, value in vars(args).items() if key not in ("host", "port") and value is not None
    }
    config = SimConfig.from_env().updated(overrides)

    def announce(base_url: str) -> None:
        print(f"promptq simulator listening on {base_url}", flush=True)

    try:
        serve(config, host=args.host, port=args.port, on_listening=announce)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
