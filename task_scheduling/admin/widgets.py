"""The parameters field of a template: a form generated in the browser from the task type's JSON Schema
(static/task_scheduling/parameters_form.js), the JSON text underneath as the fallback and the value posted."""

from django import forms

from task_core.registry import all_task_types


class ParametersWidget(forms.Textarea):
    """A JSON textarea that carries every task type's description (the one /tasks/system/task-info/
    serves) and the id of the task type select it follows."""

    template_name = "task_scheduling/widgets/parameters.html"

    def __init__(self, task_type_field: str = "task_type", attrs=None):
        super().__init__(attrs={"rows": 6, "cols": 60, **(attrs or {})})
        self.task_type_field = task_type_field

    class Media:
        css = {"all": ["task_scheduling/parameters_form.css"]}
        js = ["task_scheduling/parameters_form.js"]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["task_types"] = {t.name: t.describe() for t in all_task_types()}
        context["widget"]["task_type_id"] = f"id_{self.task_type_field}"
        return context


def task_type_choices() -> list[tuple[str, str]]:
    return [("", "---------")] + [(t.name, f"{t.label} ({t.name})" if t.label != t.name else t.name)
                                  for t in all_task_types()]
