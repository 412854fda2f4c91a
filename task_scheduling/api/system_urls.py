"""task_scheduling routes under /tasks/system/ (orphans, cleanup)."""

from rest_framework.routers import SimpleRouter

from .views.system import SchedulingSystemViewSet

router = SimpleRouter()
router.register("", SchedulingSystemViewSet, basename="scheduling-system")

urlpatterns = router.urls
