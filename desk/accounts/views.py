"""Pages for requests to run more accounts (terms-4-multi-account)."""
from flask import Blueprint

bp = Blueprint("accounts", __name__)
