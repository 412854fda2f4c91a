"""Routes of /api/v1/scheduler/: the reference's paths, with or without a trailing slash."""

from rest_framework.routers import SimpleRouter

from .views import SchedulerExecutionViewSet, SchedulerSystemViewSet, SchedulerTaskViewSet

router = SimpleRouter()
router.trailing_slash = "/?"  # the reference's paths have none; our clients send one
router.register("tasks", SchedulerTaskViewSet, basename="scheduler-v1-task")
router.register("executions", SchedulerExecutionViewSet, basename="scheduler-v1-execution")
router.register("", SchedulerSystemViewSet, basename="scheduler-v1")

urlpatterns = router.urls
