"""`segbridge sandbox start|list`: stand-in servers of the external systems on 127.0.0.1."""

from __future__ import annotations

import threading

import typer

from segbridge.commands.common import out, table

sandbox_app = typer.Typer(help="Stand-in servers of the external systems", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("list")
def list_sandboxes() -> None:
    """The sandboxes this installation can start."""
    from sandbox.catalog import SANDBOXES

    table("Sandboxes", ["name", "builder"], [[n, t] for n, t in sorted(SANDBOXES.items())])


@sandbox_app.command("start")
def start(names: list[str] = typer.Argument(None, help="Sandboxes to start (default: all)"),
          seed: int = typer.Option(0, "--seed", help="Data generator seed"),
          products: int = typer.Option(200, "--products", help="Products to generate"),
          locations: int = typer.Option(3, "--locations", help="Locations to generate"),
          customers: int = typer.Option(100, "--customers", help="Customers to generate"),
          weeks: int = typer.Option(104, "--weeks", help="Weeks of history"),
          port_base: int = typer.Option(0, "--port-base", help="First port (0: ephemeral ports)")) -> None:
    """Start sandboxes on one generated dataset, print their URLs and serve until Ctrl-C."""
    from sandbox.catalog import build
    from sandbox.catalog import names as all_names
    from sandbox.generator import generate
    from sandbox.server import serve

    chosen = names or all_names()
    dataset = generate(seed=seed, products=products, locations=locations, customers=customers, weeks=weeks)
    servers = []
    for i, name in enumerate(chosen):
        app = build(name, dataset=dataset)
        servers.append((name, serve(app, port=port_base + i if port_base else 0).start()))
    table("Sandboxes", ["name", "url"], [[n, s.url] for n, s in servers])
    out.print(f"generated {sum(dataset.counts().values())} records (seed {seed}); Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for _, server in servers:
            server.stop()
        out.print("sandboxes stopped")
