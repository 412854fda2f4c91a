from rest_framework.routers import SimpleRouter

from .views import SystemViewSet, TaskViewSet

system_router = SimpleRouter()
system_router.register("system", SystemViewSet, basename="system")

router = SimpleRouter()
router.register("", TaskViewSet, basename="task")

urlpatterns = [*system_router.urls, *router.urls]
