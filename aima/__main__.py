from aima.cli import run

run()
