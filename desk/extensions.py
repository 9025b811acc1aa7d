"""Every Flask extension, created once and bound to the app in create_app()."""
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, in_memory_fallback_enabled=True)


def for_update(query):
    """`query` locking the rows it reads until the commit where the database has row locks
    (PostgreSQL: SELECT … FOR UPDATE), and reading them afresh, so two decisions on one
    row run one after the other and the second sees the first. SQLite lets one writer in
    at a time already."""
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update()
    return query.execution_options(populate_existing=True)
