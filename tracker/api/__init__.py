"""The REST edge: the FastAPI app (app.py), its routes, schemas, auth and error mapping."""
