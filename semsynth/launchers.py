"""Where ``bench reproduce`` runs its plan: here (also under torchrun, where the ranks walk the plan together and each
run is sharded as ``bench run`` is) or on SLURM through submitit, one job per run.

Every run lives in its own folder, ``RUNS_DIR/<table>/<run key>/<the runner's run folder>``, so that a plan started
again (after a kill, a timeout or a preempted job) skips the runs that have a ``result.json`` and resumes the others
with ``bench run --resume``. An outcome is a dict: ``status`` ``done`` (with ``record``, the path of its
``result.json``, and ``how``: ``ran``, ``resumed`` or ``earlier``) or ``cannot run`` (with ``reason``: the runner's
one-line message, e.g. the missing weights and data), or ``failed`` (a job that raised).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .errors import UserError
from .reporting.plan import RunSpec


@dataclass
class RunJob:
    """One run of a plan, executable here or pickled into a submitit job; calling it again resumes it."""

    spec: RunSpec
    folder: Path
    device: str = "cpu"
    batch_size: int = 16
    data_roots: dict[str, str] = field(default_factory=dict)
    quiet: bool = True

    def finished(self) -> Path | None:
        """The run's ``result.json`` if it completed earlier."""
        records = sorted(self.folder.glob("*/result.json"))
        return records[-1] if records else None

    def started(self) -> Path | None:
        """The run folder of an earlier, unfinished attempt (one with a ``run.json``)."""
        folders = sorted(path.parent for path in self.folder.glob("*/run.json"))
        return folders[-1] if folders else None

    def config(self):
        from . import weights
        from .runner import RunConfig

        return RunConfig(method=self.spec.method, dataset=self.spec.dataset, protocol=self.spec.protocol,
                         data_root=self.data_roots.get(self.spec.dataset), limit=self.spec.limit,
                         checkpoint=str(weights.path(self.spec.weights)) if self.spec.weights else None,
                         samples_per_layout=self.spec.samples_per_layout, metrics=list(self.spec.metrics),
                         task=self.spec.task,
                         settings={key: json.loads(value) for key, value in self.spec.settings},
                         batch_size=self.batch_size, device=self.device, out=str(self.folder), quiet=self.quiet)

    def __call__(self) -> dict[str, Any]:
        from . import distributed, runner

        _join_submitit_tasks()
        try:
            distributed.init(self.device)
            decision = distributed.broadcast_object(self._decision())
            if decision[0] == "earlier":
                return {"status": "done", "how": "earlier", "record": decision[1]}
            run_dir, _ = runner.run(self.config(), resume=decision[1])
            return {"status": "done", "how": decision[0], "record": str(run_dir / "result.json")}
        except UserError as error:
            return {"status": "cannot run", "reason": str(error)}

    def _decision(self) -> tuple[str, str | None]:
        """``earlier`` (with its record), ``resumed`` (with the unfinished run folder) or ``ran`` (a new run). An
        earlier folder counts only while its identity is the plan's: a run whose weights were retrained since (same
        name, other sha256) is run again, never reported; the stale folder stays on disk."""
        record, started = self.finished(), self.started()
        if record or started:
            current = self._identity()
            record = record if record and self._same(record.parent, current) else None
            started = started if started and self._same(started, current) else None
        return ("earlier", str(record)) if record else ("resumed", str(started)) if started else ("ran", None)

    def _identity(self) -> dict[str, Any] | None:
        """The identity this run would record now; None when its inputs are missing (then the run itself says so,
        and an earlier record cannot be checked against them, so it stands)."""
        from .runner import Plan

        try:
            return Plan(self.config(), prepare_metrics=False).identity()
        except UserError:
            return None

    @staticmethod
    def _same(run_dir: Path, current: dict[str, Any] | None) -> bool:
        """Whether the run folder ``run_dir`` recorded the identity ``current`` (True when there is none to check)."""
        from .runner import identity_changes, read_run_json

        if current is None:
            return True
        try:
            return not identity_changes(read_run_json(run_dir)["identity"], current)
        except UserError:
            return False

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's hook on timeout or preemption: requeue the same job, which resumes from its run folder."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _join_submitit_tasks() -> None:
    """Inside a submitit job with several tasks (``--gpus-per-job N``), export the torch.distributed environment
    (RANK, WORLD_SIZE, MASTER_ADDR, ...) so that the runner shards the run over the tasks as under torchrun."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return
    import submitit

    if submitit.JobEnvironment().num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export()


def run_here(jobs: Sequence[RunJob]) -> list[dict[str, Any]]:
    """Every job in this process, in plan order (under torchrun every rank calls this with the same jobs)."""
    return [job() for job in jobs]


def slurm_executor(folder: Path, partition: str, gpus_per_job: int, timeout_min: int = 240) -> Any:
    """A submitit executor for SLURM: one node per job, one task per GPU (the runner shards over them)."""
    try:
        import submitit
    except ImportError:
        raise UserError("--launcher slurm needs submitit: pip install 'semsynth-bench[slurm]'") from None
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    except RuntimeError as error:   # no srun/sbatch on this machine
        raise UserError(f"--launcher slurm: no SLURM on this machine ({error}); run the command on a login node "
                        f"of the cluster, or drop --launcher slurm to run here") from None
    executor.update_parameters(slurm_partition=partition, nodes=1, gpus_per_node=gpus_per_job,
                               tasks_per_node=max(1, gpus_per_job), timeout_min=timeout_min,
                               name="bench-reproduce")
    return executor


def run_submitit(jobs: Sequence[RunJob], executor: Any) -> list[dict[str, Any]]:
    """One submitit job per run that has not finished yet; waits for all of them. A job that raised is ``failed``
    with its error; finished runs are not submitted again."""
    outcomes: list[dict[str, Any] | None] = [None] * len(jobs)
    submitted = []
    for index, job in enumerate(jobs):
        record = job.finished()
        if record is not None:
            outcomes[index] = {"status": "done", "how": "earlier", "record": str(record)}
        else:
            submitted.append((index, executor.submit(job)))
    for index, handle in submitted:
        try:
            outcomes[index] = handle.result()
        except Exception as error:   # the job's own traceback is in its submitit log
            outcomes[index] = {"status": "failed", "reason": f"job {handle.job_id} failed: "
                                                             f"{str(error).strip().splitlines()[-1]}"}
    return [outcome for outcome in outcomes if outcome is not None]
