# Hardware layer: one module per board profile (esp32, picow, unix), each exposing
# make_board(local_config); podium.startup.load_board picks it by the local config's "board".
# A board provides: name, hw, button_pin, attach_button(handler), light driver, net_up(),
# rssi(), unique_id(), state_dir and tasks() (extra coroutines, e.g. the unix test harness).
