;FLAVOR:Marlin
;TIME:1234
;Filament used: 0.52m
;Layer height: 0.2
;MINX:90 MINY:90 MINZ:0.2
;Generated with Cura_SteamEngine 5.4.0
; A short excerpt in the styles of Cura and PrusaSlicer, with the tracker's expected
; position after a line as "; EXPECT x y z" (? = not known yet). The tracker ignores
; comments, so these checkpoints cost it nothing.
M140 S60
M105
M190 S60
M104 S200
M109 S200
M82 ;absolute extrusion mode
G1 X10 Y10 ; before homing the firmware's coordinates mean nothing yet
; EXPECT ? ? ?
G1 Z5 E3
; EXPECT ? ? ?
G28 ;Home
; EXPECT 0 0 0
G92 E0
; EXPECT 0 0 0
G1 Z2.0 F3000 ;Move Z Axis up
G1 X0.1 Y20 Z0.3 F5000.0 ;Move to start position
; EXPECT 0.1 20 0.3
G1 X0.1 Y200.0 Z0.3 F1500.0 E15 ;Draw the first line
G1 X0.4 Y200.0 Z0.3 F5000.0 ;Move to side a little
G1 X0.4 Y20 Z0.3 F1500.0 E30 ;Draw the second line
G92 E0 ;Reset Extruder
G1 Z2.0 F3000 ;Move Z Axis up
; EXPECT 0.4 20 2
M107
;LAYER_COUNT:3
;LAYER:0
G0 F6000 X95.2 Y95.2 Z0.2
; EXPECT 95.2 95.2 0.2
;TYPE:WALL-OUTER
G1 F1500 X104.8 Y95.2 E0.3
G1 X104.8 Y104.8 E0.6
G1 X95.2 Y104.8 E0.9
G1 X95.2 Y95.2 E1.2
; EXPECT 95.2 95.2 0.2
;LAYER:1
G0 X95.2 Y95.2 Z0.4
G2 X104.8 Y104.8 I4.8 J4.8 E1.9 ; an arc counts by its end point
; EXPECT 104.8 104.8 0.4
G3 X95.2 Y95.2 R6.8 E2.5
; EXPECT 95.2 95.2 0.4
; PrusaSlicer style: relative extrusion and compact words
M83 ; extruder relative mode
G1 Z.6 F720
G1E.8F2100
G1X100Y100E1.2
; EXPECT 100 100 0.6
; a user's pause script: relative moves, a Z lift, and back
G91
G1 Z5 E-2 F600
G1 X-20 Y10
; EXPECT 80 110 5.6
G90
G1 X100 Y100 Z0.6
; EXPECT 100 100 0.6
; G92 shifts the coordinates, not the machine
G92 X0 Y0
G1 X10 Y-5
; EXPECT 110 95 0.6
G92.1
G1 X50 Y50
; EXPECT 50 50 0.6
; inches, then back to mm
G20
G1 X2 Y1
; EXPECT 50.8 25.4 0.6
G91
G1 Z0.1
; EXPECT 50.8 25.4 3.14
G90
G21
G1 X100 Y100 Z0.8
; EXPECT 100 100 0.8
; line numbers and checksums as OctoPrint sends them
N41 G1 X101 Y99*44
; EXPECT 101 99 0.8
n42 g1 x102 y98*45
; EXPECT 102 98 0.8
; homing named axes only, with numbers that mean nothing
G28 X0
; EXPECT 0 98 0.8
G1 X100
G28 Y Z
; EXPECT 100 0 0
; bed levelling leaves the toolhead somewhere unknown
G29
; EXPECT ? ? ?
G1 Z5
; EXPECT ? ? 5
G28 O ; home only what is unknown
; EXPECT 0 0 5
;End of Gcode
M140 S0
M104 S0
M84
