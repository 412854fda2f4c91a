"""Routes of task_persistence under /tasks/persistent-jobs/."""

from rest_framework.routers import SimpleRouter

from .views import CheckpointViewSet, PersistentJobViewSet

router = SimpleRouter()
router.register("persistent-jobs", PersistentJobViewSet, basename="persistent-job")
router.register("checkpoints", CheckpointViewSet, basename="checkpoint")

urlpatterns = router.urls
