"""kombu's filesystem transport (the embedded broker), creating its folders when a channel opens.

Selected by `CELERY_BROKER_TRANSPORT` in settings when the broker URL is `filesystem://`.
"""

from pathlib import Path

from kombu.transport import filesystem


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for folder in {self.data_folder_in, self.data_folder_out, self.control_folder}:
            Path(folder).mkdir(parents=True, exist_ok=True)


class Transport(filesystem.Transport):
    Channel = Channel
