"""promptq.sim — an Anthropic/OpenAI provider simulator with latency and fault injection.

Depends only on the standard library, Starlette, uvicorn and jsonschema; imports
nothing else from promptq (it sees only what arrives on the wire).

Endpoints (base URL: the host root for Anthropic, ``…/v1`` for OpenAI):

- ``POST /v1/messages``, ``POST /v1/messages/count_tokens`` (Anthropic wire format)
- ``POST /v1/chat/completions`` (OpenAI wire format)
- ``GET /_sim/stats``, ``POST /_sim/reset``, ``GET|POST /_sim/config``, ``POST /_sim/script``,
  ``GET /_sim/requests`` (a request log for benchmarks, off by default),
  ``GET|POST /_sim/accuracy`` (field error rates per model and prompt)

Faults (see :mod:`promptq.sim.faults`) come from a script, a ``[[sim:FAULT:N]]``
marker in the last user message, or random ``fault_rates``. Answers are
deterministic in the request content (:mod:`promptq.sim.replies`): for the built-in
tasks they are read from the document (:mod:`promptq.sim.extract`), with configurable
field error rates (:mod:`promptq.sim.accuracy`); other schemas are filled at random.

Entry points: :class:`promptq.sim.config.SimConfig`, :func:`promptq.sim.app.create_app`,
:func:`promptq.sim.server.serve`, :func:`promptq.sim.server.start_in_thread`,
``python -m promptq.sim``.
"""
