"""The relay's web side: the candidate's link and registration, the agency webhook, the admin page.

`create_app` (in `app`) builds the FastAPI app from a `WebConfig`, the ledger and the link signer;
`server.make_server` serves it with uvicorn on the relay's event loop.
"""
