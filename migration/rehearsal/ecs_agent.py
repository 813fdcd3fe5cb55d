"""The Fargate lane as an ECS service in the emulator, and the agent's part in keeping its count.

In AWS the judge reads the Fargate API service's running count from ECS (`EcsServiceHealth`),
and ECS stops a task whose essential container exited. Locally the lane is a process, not a
container, so the rehearsal registers the service the way the Pulumi program does (a cluster,
a task definition, a service of one task: the lane's one API process) and plays the agent's
one duty here: when the process exits, its task is stopped. The engine then reads the
emulator's own service counts through the target's `ecs_cluster` and `ecs_service`, exactly
as it reads ECS in AWS.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from dataclasses import dataclass

log = logging.getLogger("soundbite.rehearsal.ecs")
EXITED = "Essential container in task exited"
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class EcsService:
    cluster: str
    service: str


def register(ecs, environment: str, tasks: int = 1) -> EcsService:
    """The lane's cluster, task definition and service, with `tasks` running."""
    name = f"soundbite-{environment}"
    ecs.create_cluster(clusterName=name)
    definition = ecs.register_task_definition(
        family=f"{name}-api", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512",
        containerDefinitions=[{"name": "api", "image": "soundbite:local", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=name, serviceName=f"{name}-api", taskDefinition=definition,
                       desiredCount=tasks, launchType="FARGATE")
    return EcsService(name, f"{name}-api")


class TaskAgent:
    """Stops the service's tasks once the lane's API process has exited, as the agent would."""

    def __init__(self, ecs, service: EcsService, process: subprocess.Popen) -> None:
        self.ecs, self.service, self.process = ecs, service, process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ecs-agent", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            if self.process.poll() is not None:
                self.stop_tasks()
                return

    def stop_tasks(self) -> None:
        try:
            running = self.ecs.list_tasks(cluster=self.service.cluster, serviceName=self.service.service,
                                          desiredStatus="RUNNING")["taskArns"]
            for task in running:
                self.ecs.stop_task(cluster=self.service.cluster, task=task, reason=EXITED)
        except Exception as exc:  # the lane is gone either way; the edge's 502s still show it
            log.warning("could not stop the lane's ECS task: %s", exc)
