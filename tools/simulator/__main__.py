"""`python -m tools.simulator`: play the machine vendor for the plant in the database.

The same options as `flask --app wsgi simulate`; SIMULATOR_PORT sets the port.
"""

from app import create_app

from .cli import simulate_command

if __name__ == "__main__":
    app = create_app()
    with app.app_context():
        simulate_command.main(prog_name="python -m tools.simulator")
