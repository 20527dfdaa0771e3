# Hardware layer: one module per board profile, each exposing make_board(local_config).
# A board provides: name, hw, button_pin, attach_button(handler), light driver, net_up(),
# rssi(), unique_id(), state_dir and tasks() (extra coroutines, e.g. the unix test harness).
BOARDS = ("esp32", "picow", "unix")


def load(local: dict):
    name = local.get("board")
    if name == "esp32":
        from podium.board import esp32 as mod
    elif name == "picow":
        from podium.board import picow as mod
    elif name == "unix":
        from podium.board import unix as mod
    else:
        raise ValueError("unknown board " + str(name) + ", expected one of esp32, picow, unix")
    return mod.make_board(local)
