"""Collect: bring normal images into the workspace (uploads, zips, a folder on the server)."""


import streamlit as st

from dsaii_core.ingest import ImportReport, import_paths, import_uploads
from app_pages._ui import current_class, current_workspace, select_class, user_errors, user_path

st.title("Collect")
ws = current_workspace()
cls = current_class()


def listing(title: str, lines: list[str], limit: int = 200) -> None:
    with st.expander(title):
        st.markdown("\n".join(f"- {line}" for line in lines[:limit])
                    + (f"\n\n…and {len(lines) - limit} more" if len(lines) > limit else ""))


def show_report(report: ImportReport) -> None:
    counts, *findings = report.sentences()
    (st.warning if report.errors else st.success)(counts)
    for finding in findings:
        st.info(finding)
    if report.masks_beside:
        listing(f"Masks beside images ({len(report.masks_beside)}): used as ground truth, not imported as images",
                [f"`{image}` ← `{mask}`: {'defect marked, a real anomaly' if role == 'anomaly' else 'empty, normal'}"
                 for image, mask, role in report.masks_beside])
    if report.near_duplicates:
        listing(f"Near duplicates ({len(report.near_duplicates)})",
                [f"`{image}` nearly repeats `{earlier}`" for image, earlier in report.near_duplicates])
    if report.errors:
        with st.expander(f"{len(report.errors)} files rejected", expanded=True):
            for name, message in report.errors:
                st.markdown(f"- `{name}`: {message.removeprefix(name + ': ')}")


license = st.text_input("License of the imported images (optional)", key="import_license",
                        placeholder="e.g. CC BY-SA 4.0",
                        help="Recorded with every image and exported in img_url.json. Left empty, the license "
                             "is read from a LICENSE / COPYING file beside the images (in their folder or one "
                             "above it, up to the folder or zip you import).").strip() or None
upload_tab, folder_tab = st.tabs(["Upload files or a zip", "Folder on this machine"])

with upload_tab:
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader("Images or zips", accept_multiple_files=True,
                                 type=["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "zip"],
                                 help="A zip may hold class folders, a DSAII dataset or an MVTec AD root.")
        target = st.text_input("Class for the images", value=cls.name if cls else "", key="upload_class",
                               help="An existing class or a new name. Zips bring their own class folders.")
        texture = st.checkbox("New classes are textures (no object mask)")
        submitted = st.form_submit_button("Import", type="primary")
    if submitted:
        if not files:
            st.warning("Choose at least one file.")
        else:
            with user_errors(), st.status("Importing…", expanded=False) as status:
                bar = st.progress(0.0)
                report = import_uploads(ws, [(f.name, f) for f in files], class_name=target.strip() or None,
                                        texture=texture, license=license, progress=bar.progress)
                status.update(label="Import finished", state="complete")
                st.session_state["import_report"] = report
                if target.strip() and ws.catalog.find_class(target.strip()):
                    select_class(target.strip())

with folder_tab:
    folder = st.text_input("Folder", placeholder="/data/my_images", key="folder_path",
                           help="Class folders, a DSAII dataset, an MVTec AD root or a folder of images. Masks beside "
                                "their images (x.jpg + x.png, x_mask.png, a masks / ground_truth folder) are "
                                "paired with them, never imported as images.")
    folder_class = st.text_input("Put everything into class (optional)", key="folder_class")
    folder_texture = st.checkbox("New classes are textures", key="folder_texture")
    if st.button("Import folder", disabled=not folder, key="import_folder"):
        with user_errors(), st.status("Importing…", expanded=False) as status:
            bar = st.progress(0.0)
            report = import_paths(ws, [user_path(folder)], class_name=folder_class.strip() or None,
                                  texture=folder_texture, license=license, progress=bar.progress)
            status.update(label="Import finished", state="complete")
            st.session_state["import_report"] = report

if "import_report" in st.session_state:
    show_report(st.session_state.pop("import_report"))
    st.button("Refresh counts")

from app_pages._crawl_panel import crawl_panel; crawl_panel()  # noqa: E402,E702
