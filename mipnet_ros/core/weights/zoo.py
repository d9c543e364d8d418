"""The model zoo: pretrained weights a user can ask for by name, with where each fact came from.

Downloadable entries come from the mmpose model zoo, whose file names end in the first 8 hex digits
of the file's sha256 (mmpose tools/misc/publish_model.py); that prefix is what we verify against.
The official MIPNet file is one Google Drive file: it is fetched through Drive's confirmation page
(`host='gdrive'`). Nothing publishes its checksum, so its first download must load as the architecture
of the entry, and the sha256 of that file is recorded (core/weights/recorded.py): a later file that
differs is refused. Manual entries are files their authors share only inside Google Drive folders, which
a script cannot address by name: the user downloads them and puts them in the cache under `file_name`.
"""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Tuple

if TYPE_CHECKING:   # the table itself is read without importing torch (registry does)
    from mipnet_ros.core.model.registry import ModelSpec

MMPOSE_ZOO = ('open-mmlab/mmpose configs/body_2d_keypoint/topdown_heatmap/coco/hrnet_coco.yml '
              '(Weights, Results); AP on COCO val2017 with person detector boxes (AP_H 56), flip test')
MMPOSE_URL = 'https://download.openmmlab.com/mmpose/top_down/hrnet/'
MMPOSE_LICENCE = 'Apache-2.0 (mmpose); trained on COCO train2017 (annotations CC-BY 4.0)'
HRNET_ZOO = ('leoxiaobin/deep-high-resolution-net.pytorch README (model zoo folder, COCO val2017 table, '
             'detector AP 56.4, flip test); full sha256 as listed by the LibreYOLO HRNet model cards '
             'on huggingface.co (not checked by us)')
HRNET_FOLDER = 'https://drive.google.com/drive/folders/1hOTihvbyIxsm5ygDpbUuJ7O_tzv4oXjC'
MIPNET_ZOO = ('rawalkhirodkar/MIPNet MODEL_ZOO.md (ground-truth boxes; the COCO and OCHuman rows link '
              'the same file); N=2 follows the official lambda training scripts (one-hot lambda)')
MIPNET_DRIVE_ID = '1L_GZ_ppb896X01HTdjAg5FcYXAiir5QI'     # the "model" link of both MODEL_ZOO.md rows
DRIVE_DOWNLOAD = 'https://drive.google.com/uc?export=download&id='
HOSTS = ('direct', 'gdrive')


@dataclass(frozen=True)
class ZooEntry:
    name: str
    arch: str                       # one of mipnet_ros.core.model.registry.ARCHS
    instances: int                  # N; 1 = plain HRNet (no lambda gates)
    input_size: Tuple[int, int]     # (H, W)
    training_data: str
    published_ap: float             # AP in percent as the publisher reports it (not measured by us)
    ap_note: str                    # what that AP was measured on
    licence: str
    file_name: str                  # name in the cache's weights directory
    sha256: str                     # full hex digest, a published prefix of it, or '' when unknown
    layout: str                     # 'mmpose' (backbone./head. keys) or 'official' (HRNet/MIPNet code)
    url: str = ''                   # '' = no stable download: see `manual`
    manual: str = ''                # where a person gets the file when there is no url
    facts_from: str = ''            # where the numbers above were read
    host: str = 'direct'            # 'direct' (the url is the file) or 'gdrive' (a Drive download URL)
    page: str = ''                  # where a person downloads the file in a browser when the url fails

    @property
    def downloadable(self) -> bool:
        return bool(self.url)

    @property
    def by_hand(self) -> str:
        """Where a person gets the file without this tool."""
        return self.manual or self.page or self.url

    @property
    def spec(self) -> 'ModelSpec':
        """The architecture our converted file records (ModelSpec validates the input size)."""
        from mipnet_ros.core.model.registry import ModelSpec
        return ModelSpec(self.arch, self.instances, input_size=self.input_size)

    @property
    def sha256_is_prefix(self) -> bool:
        return 0 < len(self.sha256) < 64


def _mmpose(name: str, arch: str, size: Tuple[int, int], file_name: str, ap: float) -> ZooEntry:
    prefix = file_name.rsplit('-', 1)[1].split('_', 1)[0]
    return ZooEntry(name=name, arch=arch, instances=1, input_size=size, training_data='COCO train2017',
                    published_ap=ap, ap_note='COCO val2017, detector boxes, flip test (mmpose model zoo)',
                    licence=MMPOSE_LICENCE, file_name=file_name, sha256=prefix, layout='mmpose',
                    url=MMPOSE_URL + file_name, facts_from=MMPOSE_ZOO)


def _hrnet(name: str, arch: str, size: Tuple[int, int], file_name: str, ap: float, sha256: str) -> ZooEntry:
    return ZooEntry(name=name, arch=arch, instances=1, input_size=size, training_data='COCO train2017',
                    published_ap=ap, ap_note='COCO val2017, detector boxes, flip test (HRNet authors)',
                    licence='MIT (HRNet code release); trained on COCO train2017', file_name=file_name,
                    sha256=sha256, layout='official', manual=f'{HRNET_FOLDER} -> pose_coco/{file_name}',
                    facts_from=HRNET_ZOO)


ENTRIES = (
    _mmpose('hrnet_w32_coco', 'hrnet_w32', (256, 192), 'hrnet_w32_coco_256x192-c78dce93_20200708.pth', 74.6),
    _mmpose('hrnet_w32_coco_384x288', 'hrnet_w32', (384, 288),
            'hrnet_w32_coco_384x288-d9f0d786_20200708.pth', 76.0),
    _mmpose('hrnet_w48_coco', 'hrnet_w48', (256, 192), 'hrnet_w48_coco_256x192-b9e0b3ab_20200708.pth', 75.6),
    _mmpose('hrnet_w48_coco_384x288', 'hrnet_w48', (384, 288),
            'hrnet_w48_coco_384x288-314c8528_20200708.pth', 76.7),
    _hrnet('hrnet_w32_coco_official', 'hrnet_w32', (256, 192), 'pose_hrnet_w32_256x192.pth', 74.4,
           '19bc083708bb8d873211e50d85d56344c10290c6e8b564c813fdde09645c4c1c'),
    _hrnet('hrnet_w48_coco_384x288_official', 'hrnet_w48', (384, 288), 'pose_hrnet_w48_384x288.pth', 76.3,
           '95e0fec3194826d5e3f806ea89be68bbb84517b114c3a32b3058c56610b5ef61'),
    ZooEntry(name='mipnet_w48_coco_384x288', arch='hrnet_w48', instances=2, input_size=(384, 288),
             training_data='COCO train2017', published_ap=78.8,
             ap_note='COCO val2017 with ground-truth boxes (74.1 on OCHuman test, same file; MIPNet authors)',
             licence='Apache-2.0 (MIPNet code release); trained on COCO train2017',
             file_name='mipnet_w48_384x288_coco.pth', sha256='', layout='official',
             url=DRIVE_DOWNLOAD + MIPNET_DRIVE_ID, host='gdrive',
             page=f'https://drive.google.com/file/d/{MIPNET_DRIVE_ID}/view',
             facts_from=MIPNET_ZOO),
)

ZOO: Dict[str, ZooEntry] = {e.name: e for e in ENTRIES}


class UnknownModelError(KeyError):
    def __str__(self) -> str:      # KeyError would print the message in quotes
        return str(self.args[0])


def get_entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise UnknownModelError(f'unknown model name {name!r}; known: {", ".join(ZOO)} '
                                f'(python -m mipnet_ros weights list), or give a file path') from None


def check_entry(entry: ZooEntry) -> None:
    """Raises ValueError when an entry is malformed (used by the tests on the whole table)."""
    from mipnet_ros.core.model.registry import ARCHS
    if entry.arch not in ARCHS:
        raise ValueError(f'{entry.name}: unknown arch {entry.arch!r}')
    entry.spec          # noqa: B018 - raises ValueError on an input size the network cannot take
    if entry.layout not in ('mmpose', 'official'):
        raise ValueError(f'{entry.name}: unknown layout {entry.layout!r}')
    if entry.downloadable == bool(entry.manual):
        raise ValueError(f'{entry.name}: exactly one of url and manual must be given')
    if entry.sha256 and (len(entry.sha256) < 8 or any(c not in '0123456789abcdef' for c in entry.sha256)):
        raise ValueError(f'{entry.name}: sha256 must be lowercase hex of at least 8 digits')
    if entry.host not in HOSTS:
        raise ValueError(f'{entry.name}: unknown host {entry.host!r}')
    if entry.host == 'direct' and entry.downloadable and not (
            entry.url.startswith('https://') and entry.url.endswith('/' + entry.file_name)):
        raise ValueError(f'{entry.name}: url must be https and end in the file name')
    if entry.host == 'gdrive' and not (entry.url.startswith(DRIVE_DOWNLOAD) and entry.page.startswith('https://')):
        raise ValueError(f'{entry.name}: a Drive entry needs a {DRIVE_DOWNLOAD}<id> url and a page to open by hand')
    if entry.downloadable and not entry.sha256 and not (entry.host == 'gdrive' and entry.layout == 'official'):
        raise ValueError(f'{entry.name}: a download without a checksum cannot be verified')
    if '/' in entry.file_name or not entry.file_name.endswith('.pth'):
        raise ValueError(f'{entry.name}: file_name must be a bare .pth name')
