; Inno Setup script for Parley on Windows (Inno Setup 6.2+).
; Packages the PyInstaller folder dist\parley (built by installer\windows\build_windows.ps1)
; into one setup .exe. Two flavours share this script:
;   iscc /DFlavour=directml installer\windows\parley.iss   (any DirectX 12 GPU, default)
;   iscc /DFlavour=cuda     installer\windows\parley.iss   (NVIDIA, onnxruntime-gpu)
;   iscc /DFlavour=cpu      installer\windows\parley.iss
; Output: dist\Parley-<version>-<flavour>-setup.exe. Per-user install by default (no admin
; prompt); the user can choose an all-users install in the wizard.

#ifndef Flavour
  #define Flavour "directml"
#endif
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define Root AddBackslash(SourcePath) + "..\.."

[Setup]
AppId={{7B0F6C52-3C0E-4E0B-9C4B-5A3E0D7C1A11}
AppName=Parley
AppVersion={#AppVersion}
AppVerName=Parley {#AppVersion} ({#Flavour})
AppPublisher=Parley developers
DefaultDirName={autopf}\Parley
DefaultGroupName=Parley
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#Root}\dist
OutputBaseFilename=Parley-{#AppVersion}-{#Flavour}-setup
SetupIconFile={#Root}\resources\parley.ico
UninstallDisplayIcon={app}\Parley.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesAssociations=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add parley-cli to PATH (for the command line)"; Flags: unchecked

[Files]
Source: "{#Root}\dist\parley\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Parley"; Filename: "{app}\Parley.exe"
Name: "{group}\Uninstall Parley"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Parley"; Filename: "{app}\Parley.exe"; Tasks: desktopicon

[Registry]
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; \
    ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
; Proves the bundled model loads before the user first opens the app (quick, no window).
Filename: "{app}\parley-cli.exe"; Parameters: "--self-test"; Flags: runhidden waituntilterminated; \
    StatusMsg: "Checking that the bundled model answers..."
Filename: "{app}\Parley.exe"; Description: "{cm:LaunchProgram,Parley}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Current: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Current) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Current) + ';') = 0;
end;
