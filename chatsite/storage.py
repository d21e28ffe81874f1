"""Static files storage: WhiteNoise's compressed manifest storage that also rewrites the
room page's ES module imports (`import ... from "./store.js"`) to their hashed names,
so a module and everything it imports are cached and replaced together."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ChatStaticFilesStorage(CompressedManifestStaticFilesStorage):  # type: ignore[misc]
    support_js_module_import_aggregation = True
