"""The baseline: a bare Flask page, served the same way as ePermit."""

from flask import Flask

app = Flask(__name__)
PAGE = "<!doctype html><html lang=zh-CN><title>bare</title><main><h1>bare</h1></main></html>"


@app.get("/")
def index() -> str:
    return PAGE
