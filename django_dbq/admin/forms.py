"""The form for editing a job that no worker holds."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from ..exceptions import DbqError, InvalidWorkspaceError
from ..flow import concurrency_key_for
from ..models import Job
from ..registry import JobSpec, get_registry

EDITABLE_FIELDS = ("queue_name", "priority", "run_after", "workspace")


def spec_of(name: str) -> JobSpec | None:
    """The job's spec, or None when JOBS no longer declares its name."""
    try:
        return get_registry().get(name)
    except DbqError:
        return None


class PrettyJSONField(forms.JSONField):
    """A JSON form field that shows its value indented, for editing by hand."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


class JobForm(forms.ModelForm):
    """Edits a job no worker holds; the workspace must satisfy the job's schema."""

    # The row's ``modified`` when the form was shown: the save is refused if it changed since.
    seen_modified = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Job
        fields = EDITABLE_FIELDS
        field_classes = {"workspace": PrettyJSONField}
        widgets = {"workspace": forms.Textarea(attrs={"rows": 12, "cols": 80})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.modified is not None:
            self.initial["seen_modified"] = self.instance.modified.isoformat()

    def clean_workspace(self) -> Any:
        workspace = self.cleaned_data.get("workspace")
        spec = spec_of(self.instance.name)
        if spec is not None:
            try:
                spec.validate_workspace(workspace)
                if spec.limited:
                    concurrency_key_for(spec.name, spec.key_fields, workspace)
            except InvalidWorkspaceError as error:
                raise forms.ValidationError(str(error)) from None
        return workspace
