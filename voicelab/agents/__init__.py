"""Sample agents: pipecat bots built through voicelab's agent seam, to run or to copy.

Each is a factory (``AgentContext -> AgentParts``) that ``VOICELAB_AGENT`` can name:

- :mod:`voicelab.agents.menu_navigator`: gets through a phone menu to a department with
  pipecat's ``IVRNavigator`` (``VOICELAB_AGENT=voicelab.agents.menu_navigator:menu_navigator``).

Nothing else in voicelab imports this package (the reference agent is ``voicelab.bot``'s).
"""

__all__: list[str] = []
