"""Reports of a tournament: leaderboard.json/md (`leaderboard`), PNG plots (`plots`), report.html (`html`).

`write.write_report` produces the plots and the HTML page from the leaderboard dict that
`leaderboard.rank_all` builds; the ranking numbers themselves come from `robalign.ranking`.
"""
