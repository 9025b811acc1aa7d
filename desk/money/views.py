"""Pages for money requests, chargeback cases and the public billing form."""
from flask import Blueprint

bp = Blueprint("money", __name__)
