"""CPU per operation and utilisation between two /proc samples: a process that exited
between them took its time with it, which must read as 0, never as negative CPU."""

from bench import proccpu


def test_utilisation_is_cores_busy_and_never_negative():
    before = {"service": 2.0, "gone": 5.0}
    after = {"service": 3.5, "gone": 0.0}  # "gone" exited between the samples
    assert proccpu.utilisation(before, after, 2.0) == {"service": 0.75, "gone": 0.0}
    assert proccpu.utilisation(before, after, 0.0) == {"service": 0.0, "gone": 0.0}


def test_cpu_per_operation_is_microseconds_and_never_negative():
    before = {"service": 1.0, "gone": 5.0}
    after = {"service": 1.5, "gone": 0.0}
    assert proccpu.per_op_us(before, after, 1000) == {"service": 500.0, "gone": 0.0}
    assert proccpu.per_op_us(before, after, 0) == {"service": 0.0, "gone": 0.0}


def test_a_sample_counts_a_process_tree_and_skips_a_pid_that_is_gone():
    import os

    cpu = proccpu.sample({"me": [os.getpid()], "nobody": [2**22 + 17]})
    assert cpu["me"] > 0.0
    assert cpu["nobody"] == 0.0


def test_a_child_that_ended_keeps_its_time_in_the_tree():
    """A worker process replaced between two samples (waited for by its parent): its
    CPU is counted in its parent's, not lost with it."""
    import os
    import subprocess
    import sys

    before = proccpu.sample({"me": [os.getpid()]})
    spin = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", spin], check=True)  # waited for
    after = proccpu.sample({"me": [os.getpid()]})
    assert after["me"] - before["me"] >= 0.3
