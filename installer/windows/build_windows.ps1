# Build Parley for Windows: stage the starter model, freeze with PyInstaller, package with
# Inno Setup. Run from a "Developer PowerShell" or any PowerShell with Python 3.11 and
# Inno Setup 6 (iscc.exe) on PATH:
#
#   powershell -ExecutionPolicy Bypass -File installer\windows\build_windows.ps1 -Flavour directml
#
# Flavours pick the ONNX Runtime build that goes into the app (they overwrite each other,
# so each flavour gets its own virtual environment):
#   directml  onnxruntime-directml  any DirectX 12 GPU (AMD, Intel, NVIDIA) + CPU
#   cuda      onnxruntime-gpu       NVIDIA with CUDA 12 (the CUDA/cuDNN DLLs come from pip)
#   cpu       onnxruntime           smallest
param([ValidateSet("directml", "cuda", "cpu")][string]$Flavour = "directml")
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$venv = ".venv-build-$Flavour"
$py = Join-Path $venv "Scripts\python.exe"
$started = Get-Date

if (-not (Test-Path $py)) { python -m venv $venv }
& $py -m pip install -q --upgrade pip
& $py -m pip install -q -e ".[$Flavour,build]"
if ($LASTEXITCODE) { throw "pip install failed" }

& $py installer\stage_model.py --dest build\staging\models
if ($LASTEXITCODE) { throw "staging the starter model failed" }

Remove-Item -Recurse -Force dist\parley -ErrorAction SilentlyContinue
& (Join-Path $venv "Scripts\pyinstaller.exe") build.spec --noconfirm --log-level WARN `
    --distpath dist --workpath "build\pyinstaller-$Flavour"
if ($LASTEXITCODE) { throw "PyInstaller failed" }

# Smoke test of the frozen app before packaging it.
$env:PARLEY_DATA_DIR = Join-Path $env:TEMP "parley-smoke-$([guid]::NewGuid())"
& dist\parley\parley-cli.exe --self-test
if ($LASTEXITCODE) { throw "self-test of the frozen app failed" }

$version = & $py -c "import importlib.metadata as m; print(m.version('parley-desktop'))"
iscc /DFlavour=$Flavour /DAppVersion=$version installer\windows\parley.iss
if ($LASTEXITCODE) { throw "Inno Setup failed" }
"built dist\Parley-$version-$Flavour-setup.exe in $([int]((Get-Date) - $started).TotalSeconds) s"
