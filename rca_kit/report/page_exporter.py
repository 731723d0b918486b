"""nbconvert's HTML exporter for evidence pages, without its BeautifulSoup pass.

`HTMLExporter.from_notebook_node` renders the template, then parses the whole page with
BeautifulSoup to give images alt text and make cells focusable (`tabindex="0"`): about 40 % of
an export. An evidence page has no images (its markup is cleaned to text structure), and the
`tabindex` is added here to the same elements, so the page is the same, for less.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# the elements nbconvert makes focusable: cell input wrappers and output areas
_FOCUSABLE = re.compile(
    r'(<div class="(?:[^"<>]* )?(?:jp-Cell-inputWrapper|jp-OutputArea-output)(?: [^"<>]*)?")'
)


@cache
def page_exporter_class() -> type:
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    highlighter: Any = Highlight2HTML
    data_types: Any = WidgetsDataTypeFilter
    render: Any = TemplateExporter.from_notebook_node

    class PageExporter(HTMLExporter):
        def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
            me: Any = self  # nbconvert's own set-up of its two per-notebook filters
            info = nb.metadata.get("language_info", {})
            lexer = info.get("pygments_lexer", info.get("name", None))
            highlight = me.filters.get(
                "highlight_code", highlighter(pygments_lexer=lexer, parent=me)
            )
            resources = me._init_resources(resources)
            data_type = data_types(
                notebook_metadata=me._nb_metadata, parent=me, resources=resources
            )
            me.register_filter("highlight_code", highlight)
            me.register_filter("filter_data_type", data_type)
            html, resources = render(me, nb, resources, **kw)
            return _FOCUSABLE.sub(r'\1 tabindex="0"', html), resources

    return PageExporter
