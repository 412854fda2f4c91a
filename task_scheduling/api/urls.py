"""Routes of task_scheduling under /tasks/scheduled/."""

from rest_framework.routers import SimpleRouter

from .views.calendars import CalendarViewSet
from .views.cron_jobs import CronJobViewSet
from .views.executions import ExecutionViewSet
from .views.schedules import ScheduleViewSet
from .views.templates import PeriodicTaskViewSet

router = SimpleRouter()
router.register("periodic-tasks", PeriodicTaskViewSet, basename="periodic-task")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("cron-jobs", CronJobViewSet, basename="cron-job")
router.register("calendars", CalendarViewSet, basename="calendar")
router.register("executions", ExecutionViewSet, basename="execution")

urlpatterns = router.urls
