"""Seed the benchmark database through the app's own services (run by bench/stack.py).

    DATABASE_URL=... .venv/bin/python bench/seed.py --machines 500 --manager bench-manager \
        --password '...'

One machine type with six number metrics, lines of 50 machines each with one operator (so
the plant page shows lines, not a "Nobody assigned" wall), the machines, and a production
manager. Everything goes through app/blueprints/*/services.py, like the CLI and the pages.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Six number metrics: (key, label, unit, normal_min, normal_max, role).
METRICS = (
    ("temperature", "Temperature", "°C", 20.0, 70.0, None),
    ("spindle_speed", "Spindle speed", "rpm", 0.0, 15000.0, None),
    ("vibration", "Vibration", "mm/s", 0.0, 7.1, None),
    ("power", "Power", "kW", None, None, None),
    ("coolant_pressure", "Coolant pressure", "bar", 2.0, 8.0, None),
    ("part_count", "Parts made", "", None, None, "part_counter"),
)
MACHINES_PER_LINE = 50


def seed(machine_count, manager, password):
    from app import create_app
    from app.blueprints.auth import services as auth_services
    from app.blueprints.machines import services
    from app.blueprints.machines.models import Department, Line, Machine, MachineType, Metric
    from app.core.extensions import db

    app = create_app()
    with app.app_context():
        machine_type = services.save_machine_type(MachineType(), "Bench CNC",
                                                  "Benchmark machine type")
        for key, label, unit, low, high, role in METRICS:
            services.save_metric(machine_type, Metric(), key, label, unit, "number", low, high,
                                 role)
        department = services.save_department(Department(), "BENCH", "Bench hall")
        lines = []
        for n in range((machine_count + MACHINES_PER_LINE - 1) // MACHINES_PER_LINE):
            operator = auth_services.create_account("operator", f"bench-op{n + 1:02d}", password)
            lines.append(services.save_line(Line(), f"BL{n + 1:02d}", f"Bench line {n + 1:02d}",
                                            department, operators=[operator]))
        for n in range(machine_count):
            services.save_machine(Machine(), f"BM-{n + 1:04d}", f"Bench machine {n + 1}",
                                  machine_type, department, lines[n // MACHINES_PER_LINE],
                                  location=f"Bay {n // 10 + 1}")
        auth_services.create_account("production_manager", manager, password,
                                     full_name="Bench Manager")
        db.session.commit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=500)
    parser.add_argument("--manager", default="bench-manager")
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    seed(args.machines, args.manager, args.password)


if __name__ == "__main__":
    main()
