"""The bulk-submit baseline: an endpoint that parses a batch with promptq's own request
schema (`BatchCreate`, the same pydantic validation) and discards it.

    uvicorn bench.discard_app:app --port 8001
"""

from __future__ import annotations

from fastapi import FastAPI

from promptq.api.schemas import BatchCreate

app = FastAPI()


@app.post("/v1/batches", status_code=202)
def accept_and_discard(body: BatchCreate) -> dict[str, int]:
    return {"accepted": len(body.documents)}
